// A minimal io_uring driven by raw syscalls and <linux/io_uring.h>, as fio and
// libuv do, so the binary needs no liburing. One ring per copy job, used by
// one thread.
#pragma once

#include <linux/io_uring.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "status.h"

namespace blockcopy {

// Whether this process may use io_uring: probed once (a throwaway ring plus an
// opcode probe). False when the kernel is too old, io_uring is disabled
// (kernel.io_uring_disabled), seccomp refuses it, or BLOCKCOPY_DISABLE_IO_URING=1.
bool io_uring_usable();
// Why not, as an errno (ENOSYS, EPERM, ...), when io_uring_usable() is false.
int io_uring_unusable_errno();

struct Completion {
  uint64_t user_data;
  int32_t res;
};

class Ring {
 public:
  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  Status init(unsigned entries);
  // Registers buffers for READ_FIXED/WRITE_FIXED; false (not an error) when the
  // kernel refuses, e.g. over RLIMIT_MEMLOCK.
  bool register_buffers(const std::vector<std::pair<void*, size_t>>& buffers);
  bool buffers_registered() const { return registered_; }

  // Queues a read or write; submitted with the next submit_and_wait(). The
  // buffer lies in registered buffer `buf_index` when buffers are registered.
  void prepare_read(int fd, void* buf, uint32_t len, uint64_t offset, uint16_t buf_index, uint64_t user_data) {
    prepare(false, fd, buf, len, offset, buf_index, user_data);
  }
  void prepare_write(int fd, const void* buf, uint32_t len, uint64_t offset, uint16_t buf_index, uint64_t user_data) {
    prepare(true, fd, buf, len, offset, buf_index, user_data);
  }

  // Submits what is queued and waits for at least `min_complete` completions,
  // or, when `timeout` is not zero and the kernel can (5.11 and later), for no
  // longer than that: the bandwidth limit's next turn must not wait on a slow read.
  Status submit_and_wait(unsigned min_complete, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero());
  bool next_completion(Completion* out);

 private:
  io_uring_sqe* claim_sqe();
  void prepare(bool write, int fd, const void* buf, uint32_t len, uint64_t offset, uint16_t buf_index,
               uint64_t user_data);

  int fd_ = -1;
  void* sq_map_ = nullptr;
  size_t sq_map_size_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned *sq_head_ = nullptr, *sq_tail_ = nullptr, *sq_mask_ = nullptr, *sq_array_ = nullptr;
  unsigned *cq_head_ = nullptr, *cq_tail_ = nullptr, *cq_mask_ = nullptr;
  io_uring_cqe* cqes_ = nullptr;
  unsigned sq_entries_ = 0;
  unsigned features_ = 0;
  unsigned to_submit_ = 0;
  bool registered_ = false;
};

}  // namespace blockcopy
