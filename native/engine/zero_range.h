// Making a destination range read as zeros when it may hold old data: a hole
// copied over an existing file or onto a block device.
#pragma once

#include <cstdint>

#include "file.h"
#include "status.h"
#include "zeroing.h"

namespace blockcopy {

// Tries the cheapest way first and remembers what the file refused, so a copy
// with many holes does not ask again for each one:
//   regular file: fallocate(PUNCH_HOLE|KEEP_SIZE), then ZERO_RANGE, then zeros written;
//   block device: BLKZEROOUT on the 512-byte aligned middle, zeros written at the edges.
class RangeZeroer {
 public:
  RangeZeroer(int fd, FileType type) : fd_(fd), type_(type) {}

  // `*out` gains the bytes zeroed and how, also those zeroed before a failure.
  Status zero(uint64_t offset, uint64_t length, Zeroing* out);

 private:
  Status zero_file(uint64_t offset, uint64_t length, Zeroing* out);
  Status zero_device(uint64_t offset, uint64_t length, Zeroing* out);
  Status write_zeros(uint64_t offset, uint64_t length, Zeroing* out);

  int fd_;
  FileType type_;
  bool punch_works_ = true;
  bool zero_range_works_ = true;
  bool zeroout_works_ = true;
};

}  // namespace blockcopy
