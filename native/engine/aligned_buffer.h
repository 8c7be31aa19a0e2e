// One page-aligned I/O buffer (O_DIRECT needs alignment; so do registered io_uring buffers).
#pragma once

#include <cstddef>
#include <cstdlib>

namespace blockcopy {

class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size) : size_(size) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, size ? size : kAlignment) == 0) data_ = static_cast<unsigned char*>(p);
  }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  bool ok() const { return data_ != nullptr; }

  static constexpr size_t kAlignment = 4096;

 private:
  unsigned char* data_ = nullptr;
  size_t size_;
};

}  // namespace blockcopy
