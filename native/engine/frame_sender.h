// Sending one image into a descriptor (`blockcopy send > pipe`): the engine
// reads the image and writes the frames itself, so no byte passes through JS.
// A one-way stream: done when END is written (docs/stream-format.md).
#pragma once

#include <cstdint>
#include <string>

#include "control.h"
#include "copy.h"
#include "extent_reader.h"
#include "request.h"

namespace blockcopy {

struct SendRequest {
  Target target;
  ReaderOptions reader;  // its piece size is the format's, whatever is set
  int fd = -1;
  std::string name;
  uint32_t id = 1;
  uint32_t progress_interval_ms{};
};

// How a transfer on a descriptor ended, for either direction.
struct TransferOutcome {
  Ending ending = Ending::Failed;
  Status status;
  ProgressSnapshot progress;
  uint64_t checksum = 0;
  std::string name;         // the image's, as BEGIN gave it
  bool between_frames = true;  // the sender stopped on a frame boundary: an ERROR frame may follow
  uint64_t resume_offset = 0;  // a receiver that stopped: every image byte below it is written and flushed
};

TransferOutcome run_send(const SendRequest& req, CopyControl& control, ProgressSink* sink);

}  // namespace blockcopy
