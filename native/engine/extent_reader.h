// Reading an image for streaming: its range as a sequence of data pieces (at
// most a piece size each) and holes, in ascending order, mapped an extent
// window at a time as the reading gets there. With sparse 'always' all-zero
// blocks inside data become holes too.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "aligned_buffer.h"
#include "block_digest.h"
#include "checksum.h"
#include "extent_window.h"
#include "page_cache.h"
#include "request.h"
#include "source.h"
#include "status.h"
#include "zero_detect.h"

namespace blockcopy {

struct StreamItem {
  bool data = false;
  bool same = false;    // not data: bytes the resuming receiver already holds (a SAME frame), else a hole
  uint64_t offset = 0;  // relative to the start of the range (the image's offset)
  uint64_t length = 0;
  const unsigned char* bytes = nullptr;  // data only: inside the reader's batch buffer (next() says how long)
};

// Set in full by the binding (request.h says why).
struct ReaderOptions {
  uint64_t offset{};
  std::optional<uint64_t> length;
  SparseMode sparse{};
  uint32_t piece{};  // the largest data item: a DATA frame's limit (lib/stream/format.ts)
};

class ExtentReader {
 public:
  Status open(const Target& target, const ReaderOptions& options);
  uint64_t length() const { return length_; }
  // The image's data bytes, the part not mapped yet counted as data (extent_window.h).
  uint64_t data_bound() const { return map_.data_bound(); }
  // The checksum of every data item handed out so far (docs/stream-format.md).
  uint64_t checksum() const { return sum_.value(); }

  // Resuming: `theirs` are the digests of the blocks the receiver holds, from
  // the image's first block on (block_digest.h). Every block with data is
  // read whole and hashed; one whose digest matches goes out as a `same`
  // item instead of data (and still counts in the checksum). Before next().
  Status resume_from(std::vector<Digest> theirs);

  // Up to `max` items into `out`; none means the range is done. Their bytes
  // live in one buffer the reader reuses: valid until the next call to next().
  // (A fresh allocation per piece cost more than the copy itself: every page
  // of it faulted in, zeroed, and went back to the system when freed.)
  Status next(size_t max, std::vector<StreamItem>* out);

 private:
  Status read_piece(uint64_t at, uint64_t n, unsigned char* buf, std::vector<StreamItem>* out);
  void split_same_blocks(uint64_t rel, uint64_t n, const unsigned char* buf, std::vector<StreamItem>* out) const;
  Status make_room(size_t max);
  Status next_window();
  void round_to_blocks();
  const std::vector<Extent>& window() const { return theirs_ ? rounded_ : map_.extents(); }

  Source source_;
  ReaderOptions options_;
  uint64_t length_ = 0;
  ExtentWindow map_;
  std::vector<Extent> rounded_;  // resuming: the map's window with data grown to whole blocks
  bool at_end_ = false;
  size_t index_ = 0;     // current extent of the window
  uint64_t within_ = 0;  // bytes of it already handed out
  std::vector<ZeroRun> runs_;
  std::unique_ptr<AlignedBuffer> batch_;  // room for `max` pieces; refilled by every next()
  ImageChecksum sum_;
  std::optional<std::vector<Digest>> theirs_;  // resuming
  std::optional<ReadBehind> read_behind_;  // an image sent from a cold file leaves the cache as it goes
};

}  // namespace blockcopy
