#include "descriptor_io.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace blockcopy {

namespace {
constexpr int kCancelCheckMs = 100;
constexpr int kWidePipe = 1 << 20;
}  // namespace

void consume_iov(iovec** iov, int* count, size_t n) {
  while (*count > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    ++*iov;
    --*count;
  }
  if (*count > 0) {
    (*iov)->iov_base = static_cast<char*>((*iov)->iov_base) + n;
    (*iov)->iov_len -= n;
  }
}

bool write_now(int fd, const unsigned char* bytes, size_t length) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  const bool was_blocking = !(flags & O_NONBLOCK);
  if (was_blocking && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return false;
  ssize_t n;
  do {
    n = write(fd, bytes, length);
  } while (n < 0 && errno == EINTR);
  if (was_blocking) fcntl(fd, F_SETFL, flags);
  return n == static_cast<ssize_t>(length);
}

Descriptor::Descriptor(int fd, const CancelToken& cancel) : fd_(fd), cancel_(cancel) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) saved_flags_ = flags;
}

Descriptor::~Descriptor() {
  if (saved_flags_ >= 0) fcntl(fd_, F_SETFL, saved_flags_);
}

// Only a pipe takes a size; a file or a socket refuses, which changes nothing.
void Descriptor::widen_pipe() {
  fcntl(fd_, F_SETPIPE_SZ, kWidePipe);
}

Status Descriptor::wait(short events, int timeout_ms, bool* ready) {
  *ready = false;
  for (int waited = 0;;) {
    if (cancel_.requested()) return Status::Sys(ECANCELED, "poll", Side::None);
    pollfd p{fd_, events, 0};
    const int slice = timeout_ms < 0 ? kCancelCheckMs : std::min(kCancelCheckMs, timeout_ms - waited);
    const int n = poll(&p, 1, slice);
    if (n < 0 && errno != EINTR) return Status::Sys(errno, "poll", Side::None);
    if (n > 0) {
      *ready = true;  // readable, writable, or hung up / in error: the next call says which
      return Status::Ok();
    }
    if (n == 0) waited += slice;
    if (timeout_ms >= 0 && waited >= timeout_ms) return Status::Ok();
  }
}

Status Descriptor::write_all(iovec* iov, int count) {
  while (count > 0) {
    const ssize_t n = writev(fd_, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return Status::Sys(errno, "write", Side::None);
      bool ready;
      Status s = wait(POLLOUT, -1, &ready);
      if (!s.ok()) return s;
      continue;
    }
    consume_iov(&iov, &count, static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status Descriptor::read_some(unsigned char* buf, size_t size, size_t* got, uint32_t idle_ms) {
  for (;;) {
    bool would_block;
    Status s = try_read(buf, size, got, &would_block);
    if (!s.ok() || !would_block) return s;
    bool ready;
    s = wait(POLLIN, idle_ms ? static_cast<int>(idle_ms) : -1, &ready);
    if (!s.ok()) return s;
    if (!ready) return Status::Sys(ETIMEDOUT, "read", Side::None);
  }
}

Status Descriptor::try_read(unsigned char* buf, size_t size, size_t* got, bool* would_block) {
  *got = 0;
  *would_block = false;
  for (;;) {
    const ssize_t n = read(fd_, buf, size);
    if (n >= 0) {
      *got = static_cast<size_t>(n);
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::Sys(errno, "read", Side::None);
    *would_block = true;
    return Status::Ok();
  }
}

Status Descriptor::wait_readable(int ms, bool* readable) { return wait(POLLIN, ms, readable); }

}  // namespace blockcopy
