// Finding all-zero blocks in data just read, so `sparse: 'always'` can leave holes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace blockcopy {

bool is_all_zero(const unsigned char* data, size_t length);

// A run of a buffer that is all zeros, or not.
struct ZeroRun {
  size_t offset;  // into the buffer
  size_t length;
  bool zero;
};

// Splits `data`, which lies at `pos` in its file, into runs of all-zero and
// not-all-zero blocks of `block` bytes on the file's own block grid (so a
// zero run can become a hole there); neighbours of a kind are merged. The
// copy loop and the stream reader both cut their buffers with it.
void split_zero_runs(const unsigned char* data, size_t length, uint64_t pos, uint64_t block, std::vector<ZeroRun>* runs);

}  // namespace blockcopy
