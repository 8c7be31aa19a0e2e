// One job per target, across processes: open file description locks
// (F_OFD_SETLK) on the byte ranges of the destination a job may change, taken
// before it changes anything, as qemu locks its images. The lock belongs to
// the open file, not the path, so a second name for the file (a hard link, a
// symlink, /proc/self/fd) meets it too. Advisory: it keeps out other
// blockcopy jobs and tools that lock the same way, not a plain `dd`.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "status.h"

namespace blockcopy {

// [start, end) in destination bytes; kToTheEnd: everything from start on.
struct ByteSpan {
  static constexpr uint64_t kToTheEnd = std::numeric_limits<uint64_t>::max();
  uint64_t start;
  uint64_t end;
};

// What a job writing [offset, offset + length) may change: that range, up to
// the end of the file when it cuts the file there (truncate), and everything
// from a new size on when it resizes (dstSize).
std::vector<ByteSpan> spans_changed(uint64_t offset, uint64_t length, bool cuts_at_offset, const uint64_t* new_size);

class RangeLock {
 public:
  RangeLock() = default;
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;
  ~RangeLock() { release(); }

  // Write-locks every span through `fd`, or none of them. Another job holding
  // an overlapping lock: EBUSY naming the bytes it holds. Where the file
  // cannot be locked (a filesystem without lock support, a descriptor that
  // was not opened for writing) the job goes on unlocked, as before.
  Status acquire(int fd, const std::vector<ByteSpan>& spans);
  // Lets go, span by span: a caller's descriptor stays open after the job.
  // Must run while the descriptor is still open (after a close its number may
  // name another file), hence a RangeLock is declared after its Fd.
  void release();

 private:
  int fd_ = -1;
  std::vector<ByteSpan> held_;
};

}  // namespace blockcopy
