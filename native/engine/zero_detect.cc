#include "zero_detect.h"

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

}  // namespace blockcopy
