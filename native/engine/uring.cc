#include "uring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace blockcopy {

namespace {

int sys_setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void* arg = nullptr,
              size_t arg_size = 0) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, arg_size));
}

int sys_register(int fd, unsigned opcode, const void* arg, unsigned nr_args) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr_args));
}

template <typename T>
T* at(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store_release(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// The opcodes we use must be there: kernels before 5.6 have io_uring but not
// IORING_OP_READ/WRITE, and the probe call itself is how we find out. The
// opcodes are enum values the preprocessor cannot see; IO_URING_OP_SUPPORTED
// arrived in the same header version, so it stands guard for them.
bool has_opcodes(int fd) {
#ifdef IO_URING_OP_SUPPORTED
  constexpr unsigned kOps = 64;
  const size_t size = sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op);
  auto* probe = static_cast<io_uring_probe*>(calloc(1, size));
  if (!probe) return false;
  bool ok = sys_register(fd, IORING_REGISTER_PROBE, probe, kOps) == 0;
  for (int op : {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED})
    ok = ok && op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED);
  free(probe);
  return ok;
#else
  (void)fd;
  return false;
#endif
}

// Only reached when io_uring_usable() found IORING_OP_READ/WRITE; with older
// headers that is never, and this still compiles.
uint8_t opcode(bool fixed, bool write) {
#ifdef IO_URING_OP_SUPPORTED
  if (fixed) return write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
  return write ? IORING_OP_WRITE : IORING_OP_READ;
#else
  return write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
#endif
}

struct Probe {
  bool usable = false;
  int err = ENOSYS;
};

Probe run_probe() {
  Probe result;
  const char* disabled = getenv("BLOCKCOPY_DISABLE_IO_URING");
  if (disabled && *disabled && strcmp(disabled, "0") != 0) {
    result.err = EPERM;
    return result;
  }
  io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = sys_setup(2, &p);
  if (fd < 0) {
    result.err = errno;
    return result;
  }
  result.usable = has_opcodes(fd);
  if (!result.usable) result.err = ENOSYS;
  close(fd);
  return result;
}

const Probe& probe() {
  static const Probe once = run_probe();  // thread-safe, once per process
  return once;
}

}  // namespace

bool io_uring_usable() { return probe().usable; }
int io_uring_unusable_errno() { return probe().err; }

Ring::~Ring() {
  if (sqes_) munmap(sqes_, sqes_size_);
  if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_size_);
  if (sq_map_) munmap(sq_map_, sq_map_size_);
  if (fd_ >= 0) close(fd_);
}

Status Ring::init(unsigned entries) {
  io_uring_params p;
  memset(&p, 0, sizeof p);
  fd_ = sys_setup(entries, &p);
  if (fd_ < 0) return Status::Sys(errno, "io_uring_setup", Side::None);
  sq_entries_ = p.sq_entries;
  features_ = p.features;
  sq_map_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_map_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
#ifdef IORING_FEAT_SINGLE_MMAP
  const bool single = p.features & IORING_FEAT_SINGLE_MMAP;
#else
  const bool single = false;
#endif
  if (single) sq_map_size_ = cq_map_size_ = std::max(sq_map_size_, cq_map_size_);
  const int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_POPULATE;
  sq_map_ = mmap(nullptr, sq_map_size_, prot, flags, fd_, IORING_OFF_SQ_RING);
  if (sq_map_ == MAP_FAILED) {
    sq_map_ = nullptr;
    return Status::Sys(errno, "mmap", Side::None);
  }
  cq_map_ = single ? sq_map_ : mmap(nullptr, cq_map_size_, prot, flags, fd_, IORING_OFF_CQ_RING);
  if (cq_map_ == MAP_FAILED) {
    cq_map_ = nullptr;
    return Status::Sys(errno, "mmap", Side::None);
  }
  sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, sqes_size_, prot, flags, fd_, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return Status::Sys(errno, "mmap", Side::None);
  sqes_ = static_cast<io_uring_sqe*>(sqes);
  sq_head_ = at<unsigned>(sq_map_, p.sq_off.head);
  sq_tail_ = at<unsigned>(sq_map_, p.sq_off.tail);
  sq_mask_ = at<unsigned>(sq_map_, p.sq_off.ring_mask);
  sq_array_ = at<unsigned>(sq_map_, p.sq_off.array);
  cq_head_ = at<unsigned>(cq_map_, p.cq_off.head);
  cq_tail_ = at<unsigned>(cq_map_, p.cq_off.tail);
  cq_mask_ = at<unsigned>(cq_map_, p.cq_off.ring_mask);
  cqes_ = at<io_uring_cqe>(cq_map_, p.cq_off.cqes);
  return Status::Ok();
}

bool Ring::register_buffers(const std::vector<std::pair<void*, size_t>>& buffers) {
  std::vector<iovec> iov;
  for (const auto& [base, len] : buffers) iov.push_back({base, len});
  registered_ = sys_register(fd_, IORING_REGISTER_BUFFERS, iov.data(), static_cast<unsigned>(iov.size())) == 0;
  return registered_;
}

io_uring_sqe* Ring::claim_sqe() {
  const unsigned tail = *sq_tail_;
  const unsigned index = tail & *sq_mask_;
  io_uring_sqe* sqe = &sqes_[index];
  memset(sqe, 0, sizeof *sqe);
  sq_array_[index] = index;
  store_release(sq_tail_, tail + 1);
  to_submit_++;
  return sqe;
}

void Ring::prepare(bool write, int fd, const void* buf, uint32_t len, uint64_t offset, uint16_t buf_index,
                   uint64_t user_data) {
  io_uring_sqe* sqe = claim_sqe();
  sqe->opcode = opcode(registered_, write);
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(buf);
  sqe->len = len;
  sqe->off = offset;
  sqe->buf_index = registered_ ? buf_index : 0;
  sqe->user_data = user_data;
}

Status Ring::submit_and_wait(unsigned min_complete, std::chrono::nanoseconds timeout) {
  unsigned flags = min_complete ? IORING_ENTER_GETEVENTS : 0;
  const void* arg = nullptr;
  size_t arg_size = 0;
#if defined(IORING_ENTER_EXT_ARG) && defined(IORING_FEAT_EXT_ARG)
  __kernel_timespec ts = {};
  io_uring_getevents_arg wait = {};
  if (timeout.count() > 0 && min_complete && (features_ & IORING_FEAT_EXT_ARG)) {
    ts.tv_sec = timeout.count() / 1000000000;
    ts.tv_nsec = timeout.count() % 1000000000;
    wait.ts = reinterpret_cast<uint64_t>(&ts);
    flags |= IORING_ENTER_EXT_ARG;
    arg = &wait;
    arg_size = sizeof wait;
  }
#endif
  for (;;) {
    int rc = sys_enter(fd_, to_submit_, min_complete, flags, arg, arg_size);
    if (rc >= 0) {
      to_submit_ -= static_cast<unsigned>(rc) < to_submit_ ? static_cast<unsigned>(rc) : to_submit_;
      if (to_submit_ == 0 || min_complete == 0) return Status::Ok();
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == ETIME && arg) {  // the timeout passed before a completion: the caller's turn
      to_submit_ = 0;             // submission happens before the wait, so all went in
      return Status::Ok();
    }
    // EAGAIN/EBUSY: the completion queue is full; the caller reaps and tries again.
    if ((errno == EAGAIN || errno == EBUSY) && load_acquire(cq_tail_) != *cq_head_) return Status::Ok();
    return Status::Sys(errno, "io_uring_enter", Side::None);
  }
}

bool Ring::next_completion(Completion* out) {
  const unsigned head = *cq_head_;
  if (head == load_acquire(cq_tail_)) return false;
  const io_uring_cqe& cqe = cqes_[head & *cq_mask_];
  out->user_data = cqe.user_data;
  out->res = cqe.res;
  store_release(cq_head_, head + 1);
  return true;
}

}  // namespace blockcopy
