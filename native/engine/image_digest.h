// checksum(): the digest of a range of a target (block_digest.h defines it),
// read window by window while helper threads hash the window before.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "block_digest.h"
#include "control.h"
#include "copy.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

struct DigestRequest {
  Target target;
  uint64_t offset{};
  std::optional<uint64_t> length;
  uint32_t progress_interval_ms{};
  uint32_t progress_delay_ms{};
  // A resuming receiver's question, what it holds of an image: the range cut
  // at the target's end rather than refused, and every block's digest and
  // stream checksum (checksum.h) kept.
  bool blocks{};
};

struct DigestOutcome {
  Ending ending = Ending::Failed;
  Status status;
  Digest digest{};
  uint64_t length = 0;  // of the range hashed
  ProgressSnapshot progress;
  std::vector<Digest> block_digests;  // with `blocks`
  std::vector<uint64_t> block_sums;   // each block's share of the stream checksum, with `blocks`
};

DigestOutcome run_digest(const DigestRequest& req, CopyControl& control, ProgressSink* sink);

}  // namespace blockcopy
