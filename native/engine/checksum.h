// The image checksum a stream's END frame carries (docs/stream-format.md):
// a sum over the image's 64-bit words, each multiplied by an odd weight drawn
// from its position. Zero words add nothing, so holes cost no work and a
// hole and written zeros agree; and because it is linear, the pieces of one
// word may arrive in different frames and still add up.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blockcopy {

class ImageChecksum {
 public:
  // `data` holds the image bytes at [offset, offset + length).
  void update(uint64_t offset, const unsigned char* data, size_t length);
  uint64_t value() const { return sum_; }

 private:
  uint64_t sum_ = 0;
};

// The weight of the word at index i (its offset / 8): splitmix64(i) | 1.
uint64_t checksum_weight(uint64_t word_index);

}  // namespace blockcopy
