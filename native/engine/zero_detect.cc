#include "zero_detect.h"

#include <algorithm>

#include <cstdint>
#include <cstring>

namespace blockcopy {

// Word-wide OR over 64-byte groups: the compiler vectorises the inner loop and
// we stop at the first group holding a set bit, so data blocks are rejected fast.
bool is_all_zero(const unsigned char* data, size_t length) {
  size_t i = 0;
  constexpr size_t kGroup = 64;
  for (; i + kGroup <= length; i += kGroup) {
    uint64_t words[kGroup / sizeof(uint64_t)];
    std::memcpy(words, data + i, kGroup);  // alignment-safe; compiles to vector loads
    uint64_t acc = 0;
    for (uint64_t w : words) acc |= w;
    if (acc != 0) return false;
  }
  for (; i < length; i++)
    if (data[i] != 0) return false;
  return true;
}

void split_zero_runs(const unsigned char* data, size_t length, uint64_t pos, uint64_t block, std::vector<ZeroRun>* runs) {
  runs->clear();
  size_t i = 0;
  while (i < length) {
    const uint64_t first_block_end = (pos + i) / block * block + block;
    size_t end = static_cast<size_t>(std::min<uint64_t>(length, first_block_end - pos));
    const bool zero = is_all_zero(data + i, end - i);
    while (end < length) {
      const size_t next = static_cast<size_t>(std::min<uint64_t>(length, end + block));
      if (is_all_zero(data + end, next - end) != zero) break;
      end = next;
    }
    runs->push_back({i, end - i, zero});
    i = end;
  }
}

}  // namespace blockcopy
