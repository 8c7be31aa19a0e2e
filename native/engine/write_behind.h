// Write-behind: when the data must be on disk at the end anyway (fsync) and
// arrives slower than the disk takes it (a stream from a pipe or a socket),
// start writeback as it arrives, so the final fsync finds little left to do.
#pragma once

#include <cstdint>

namespace blockcopy {

class WriteBehind {
 public:
  // Off unless `enabled`; `start` is where the destination range begins.
  WriteBehind(int fd, bool enabled, uint64_t start) : fd_(fd), enabled_(enabled), flushed_(start) {}

  // Everything of the destination range below `dst_pos` has been written.
  void reached(uint64_t dst_pos);

 private:
  int fd_;
  bool enabled_;
  uint64_t flushed_;  // writeback has been started below here
};

}  // namespace blockcopy
