// Writing a streamed image into a destination: data pieces land at their
// offsets, holes are skipped where the destination already reads as zeros and
// zeroed where it may hold old data, by the destination's rules (destination.h)
// with its size changed only at the END, so a stream that breaks early leaves
// an existing file as it was but for what it did write.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "checksum.h"
#include "destination.h"
#include "request.h"
#include "status.h"
#include "page_cache.h"

namespace blockcopy {

// Set in full by the binding (request.h says why). The range is the image:
// it starts at range.offset in the destination and is range.length bytes.
struct WriterOptions {
  DestinationOpen how;  // create_mode is 0666: a streamed image has no mode of its own
  DestinationRange range;
  SyncMode fsync{};
  // At finish, after the flush: the image read back from the disk and its
  // checksum compared, window by window, with that of what was written.
  bool verify{};
};

// One piece of a received image: data (its bytes) or a hole, at `rel` in the image.
struct ImagePiece {
  bool data;
  uint64_t rel;
  uint64_t length;
  const unsigned char* bytes;
};

// A block a resuming receiver already held (a SAME frame): not written, but
// part of the image verify reads back.
struct KeptBlock {
  uint64_t block;  // index of the 64 KiB block in the image
  uint64_t sum;    // its share of the stream checksum
};

class ExtentWriter {
 public:
  Status open(const Target& target, const WriterOptions& options);
  // Applies pieces in order. Runs of adjacent data go out in one gathered
  // write: a pipe's 64 KiB pieces would otherwise cost a system call each.
  // Nothing outside the image is ever written.
  Status apply(const std::vector<ImagePiece>& pieces);
  // Sizes the destination to the image's end and flushes as asked; then, with
  // verify, reads the image back: ERR_BLOCKCOPY_VERIFY names the first
  // window (kVerifyWindow bytes) whose checksum differs.
  Status finish();
  static constexpr uint64_t kVerifyWindow = 16ull << 20;
  // Before finish(): the blocks kept rather than written count in what verify expects.
  void kept(const std::vector<KeptBlock>& blocks);
  // A transfer that failed before writing anything removes a destination it created.
  void abandon() { dst_.abandon(); }
  // A transfer that failed after writing: the image's first `rel` bytes, all
  // applied, are made durable, so a later transfer can start there.
  Status stop_durably_at(uint64_t rel) { return dst_.stop_durably_at(options_.range.offset + rel); }

  uint64_t bytes_written() const { return written_; }  // data; zeros are in zeroing()
  uint64_t bytes_skipped() const { return skipped_; }
  const Zeroing& zeroing() const { return zeroing_; }
  // Whether the destination has changed at all: a failed transfer that did not change it leaves none behind.
  bool changed_anything() const { return written_ > 0 || zeroing_.bytes > 0; }
  // The checksum of the data written (holes add nothing), to compare with the sender's.
  uint64_t checksum() const { return sum_.value(); }

 private:
  Status check_inside(uint64_t rel, uint64_t length, const char* what) const;
  Status write_run(uint64_t rel, std::vector<iovec> run);
  Status hole(uint64_t rel, uint64_t length);
  void sum_by_window(uint64_t rel, const unsigned char* data, size_t length);
  Status read_back() const;

  Target target_;
  WriterOptions options_;
  Destination dst_;
  std::optional<WriteBehind> write_behind_;
  uint64_t written_ = 0, skipped_ = 0;
  Zeroing zeroing_;
  ImageChecksum sum_;
  std::vector<uint64_t> window_sums_;  // with verify: the checksum of what was written, per window
};

}  // namespace blockcopy
