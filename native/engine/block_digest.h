// The image digest checksum() returns, as docs/checksum.md defines it: the
// range is cut into blocks of kDigestBlock bytes (the last may be shorter),
// each block is hashed with SHA-256, and the block digests, in order,
// followed by the range's length as 8 little-endian bytes, are hashed again.
// Only the bytes count, never how they are stored: a block of zeros has the
// same digest whether it is a hole, an unwritten extent or written zeros, so
// holes and zero blocks are never hashed, only counted.
//
// SHA-256 comes from the OpenSSL inside the Node process that loads us.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace blockcopy {

constexpr uint32_t kDigestBlock = 64 * 1024;
constexpr const char* kDigestAlgorithm = "sha256-blocks-64k";

using Digest = std::array<unsigned char, 32>;

// SHA-256 of `length` bytes; an all-zero block takes the precomputed answer.
Digest block_digest(const unsigned char* data, size_t length);
// SHA-256 of `length` zero bytes (at most kDigestBlock), without hashing a full block twice.
Digest zero_block_digest(size_t length);

// The outer hash, fed the block digests in order.
class ImageDigest {
 public:
  ImageDigest();
  ~ImageDigest();
  ImageDigest(const ImageDigest&) = delete;
  ImageDigest& operator=(const ImageDigest&) = delete;

  void add(const Digest& block);
  // `count` blocks of kDigestBlock zeros: a hole costs a 32-byte update per block, no reading.
  void add_zero_blocks(uint64_t count);
  Digest finish(uint64_t length);

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};

// Lowercase hex, as sha256sum prints.
std::array<char, 65> to_hex(const Digest& digest);

}  // namespace blockcopy
