// Moving bytes through a descriptor someone else opened (a pipe, a file,
// stdin/stdout) from an engine thread: whether or not it is non-blocking, a
// cancel is seen within a tenth of a second, even while the peer neither
// reads nor writes.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "cancel.h"
#include "status.h"

namespace blockcopy {

// After a gathered write or send of `n` bytes: steps past the iovecs that went
// out whole, and moves the start of one that went out in part.
void consume_iov(iovec** iov, int* count, size_t n);

// One write that never waits, for a last word after a job has stopped (an
// ERROR frame): all of `bytes` or none. On a pipe a write of at most PIPE_BUF
// bytes goes in whole or not at all; true when it went.
bool write_now(int fd, const unsigned char* bytes, size_t length);

class Descriptor {
 public:
  // Makes `fd` non-blocking for as long as this object lives (waits go
  // through poll, so cancel can interrupt them), then puts its flags back.
  explicit Descriptor(int fd, const CancelToken& cancel);
  ~Descriptor();
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  // Every byte of the iovecs, or an error (EPIPE when the reader has gone,
  // ECANCELED when cancelled, possibly part-way through).
  Status write_all(iovec* iov, int count);
  // Some bytes into buf (0: end of input), or an error; ETIMEDOUT when
  // nothing arrives for `idle_ms` (0: wait as long as it takes).
  Status read_some(unsigned char* buf, size_t size, size_t* got, uint32_t idle_ms = 0);
  // Some bytes into buf without waiting; *got 0 with *would_block false is the end of input.
  Status try_read(unsigned char* buf, size_t size, size_t* got, bool* would_block);
  // Whether anything (bytes or the end) arrives within `ms`; cancel ends the wait early.
  Status wait_readable(int ms, bool* readable);

  // A bigger pipe moves more per system call (the kernel caps it at fs/pipe-max-size).
  void widen_pipe();

 private:
  Status wait(short events, int timeout_ms, bool* ready);

  int fd_;
  int saved_flags_ = -1;
  const CancelToken& cancel_;
};

}  // namespace blockcopy
