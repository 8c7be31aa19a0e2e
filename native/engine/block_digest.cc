#include "block_digest.h"

#include <openssl/evp.h>

#include <algorithm>

#include "zero_detect.h"

namespace blockcopy {

namespace {

Digest sha256(const unsigned char* data, size_t length) {
  Digest out{};
  unsigned int size = 0;
  EVP_Digest(data, length, out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

const unsigned char* zeros() {
  static const unsigned char block[kDigestBlock] = {};
  return block;
}

}  // namespace

Digest zero_block_digest(size_t length) {
  static const Digest full = sha256(zeros(), kDigestBlock);
  return length == kDigestBlock ? full : sha256(zeros(), length);
}

Digest block_digest(const unsigned char* data, size_t length) {
  // Checking for zeros runs at memory speed; hashing is several times slower.
  if (is_all_zero(data, length)) return zero_block_digest(length);
  return sha256(data, length);
}

ImageDigest::ImageDigest() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

ImageDigest::~ImageDigest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void ImageDigest::add(const Digest& block) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), block.data(), block.size()); }

void ImageDigest::add_zero_blocks(uint64_t count) {
  // Batched, so a 1 TiB hole is 16 M digests hashed in large updates rather than 16 M calls.
  constexpr size_t kBatch = 256;
  static const auto batch = [] {
    std::array<unsigned char, kBatch * sizeof(Digest)> b{};
    const Digest zero = zero_block_digest(kDigestBlock);
    for (size_t i = 0; i < kBatch; i++) std::copy(zero.begin(), zero.end(), b.begin() + i * sizeof(Digest));
    return b;
  }();
  while (count) {
    const uint64_t n = count < kBatch ? count : kBatch;
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), batch.data(), n * sizeof(Digest));
    count -= n;
  }
}

Digest ImageDigest::finish(uint64_t length) {
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = static_cast<unsigned char>(length >> (8 * i));
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  EVP_DigestUpdate(ctx, le, sizeof le);
  Digest out{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &size);
  return out;
}

std::array<char, 65> to_hex(const Digest& digest) {
  static const char kHex[] = "0123456789abcdef";
  std::array<char, 65> out{};
  for (size_t i = 0; i < digest.size(); i++) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  out[64] = '\0';
  return out;
}

}  // namespace blockcopy
