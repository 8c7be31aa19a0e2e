#include "checksum.h"

#include <cstring>

namespace blockcopy {

uint64_t checksum_weight(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (z ^ (z >> 31)) | 1;
}

void ImageChecksum::update(uint64_t offset, const unsigned char* data, size_t length) {
  size_t i = 0;
  // A partial word at either edge: its bytes in their places, the rest zero.
  while (i < length && (offset + i) % 8 != 0) {
    const uint64_t at = offset + i;
    sum_ += (static_cast<uint64_t>(data[i]) << (8 * (at % 8))) * checksum_weight(at / 8);
    i++;
  }
  for (; i + 8 <= length; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);  // little-endian hosts only (x86-64, arm64)
    if (word != 0) sum_ += word * checksum_weight((offset + i) / 8);
  }
  for (; i < length; i++) {
    const uint64_t at = offset + i;
    sum_ += (static_cast<uint64_t>(data[i]) << (8 * (at % 8))) * checksum_weight(at / 8);
  }
}

}  // namespace blockcopy
