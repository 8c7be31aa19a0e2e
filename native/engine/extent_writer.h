// Writing a streamed image: data pieces land at their offsets, holes are
// skipped where the destination already reads as zeros and zeroed where it
// may hold old data (fallocate, BLKZEROOUT), with the same sizing rules as a copy.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <sys/uio.h>
#include <string>

#include "checksum.h"
#include "file.h"
#include "range_lock.h"
#include "request.h"
#include "status.h"
#include "write_behind.h"
#include "zero_range.h"

namespace blockcopy {

struct WriterOptions {
  uint64_t offset = 0;  // where the image starts in the destination
  uint64_t length = 0;  // the image's size
  std::optional<uint64_t> dst_size;
  bool truncate = false;
  bool target_is_zero = false;
  bool overwrite = true;
  bool force = false;
  SyncMode fsync = SyncMode::None;
};

// The destination keeps its size and every byte the image has not yet written
// over until the END: holes over old data are zeroed as they come, a file too
// short for the image is grown to its end when the first piece lands, and it
// is cut (truncate, dstSize) only in finish(). So a stream that fails early
// leaves an existing file as it was, but for what it did write.
class ExtentWriter {
 public:
  Status open(const Target& target, const WriterOptions& options);
  // `rel` is the offset within the image; nothing outside the image is ever written.
  // Adjacent data pieces starting at `rel`, in one pwritev where the kernel takes them.
  Status write_gathered(uint64_t rel, std::vector<iovec> pieces);
  Status hole(uint64_t rel, uint64_t length);
  // Sizes the destination to the image's end and flushes as asked.
  Status finish();
  // A transfer that failed before writing anything removes a destination it created.
  void abandon();

  uint64_t bytes_written() const { return written_; }
  uint64_t bytes_skipped() const { return skipped_; }
  // The checksum of the data written (holes add nothing), to compare with the sender's.
  uint64_t checksum() const { return sum_.value(); }

 private:
  Status check_inside(uint64_t rel, uint64_t length, const char* what) const;
  Status check_fits() const;
  Status grow_to_image();

  WriterOptions options_;
  Fd fd_;
  FileInfo info_;
  std::string created_;  // the file this writer created, to remove if nothing lands in it
  RangeLock lock_;  // after fd_: let go before it closes
  bool grown_ = false;
  uint64_t old_data_end_ = 0;  // absolute; below it the destination may hold old data
  std::optional<RangeZeroer> zeroer_;
  std::optional<WriteBehind> write_behind_;
  uint64_t written_ = 0, skipped_ = 0;
  ImageChecksum sum_;
};

}  // namespace blockcopy
