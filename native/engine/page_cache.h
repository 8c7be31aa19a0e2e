// Keeping a copy out of the page cache. Copying a 100 GiB image must not
// evict the host's working set, and a destination written in one burst and
// flushed at the end makes the flush the slowest part of the job. So, as
// nbdcopy does: the destination's writeback starts as the data lands, a
// bounded amount is under writeback at a time, and written pages leave the
// cache once they are on disk; a source's pages leave it once read, unless
// they were cached before the job came (someone else wants them).
#pragma once

#include <cstdint>
#include <deque>

#include "file.h"
#include "status.h"

namespace blockcopy {

// What reads and writes through the page cache: a local file or device (an
// NBD end is someone else's cache), when not opened for direct I/O.
inline bool through_page_cache(const FileInfo& info, bool direct) {
  return !direct && (info.type == FileType::Regular || info.type == FileType::BlockDevice);
}

// Flushes [offset, offset + length) of `fd` and drops it from the cache, so
// the next read of it comes from the disk (verify reads back what landed).
Status evict_range(int fd, uint64_t offset, uint64_t length, Side side);

// Writeback of the destination starts in windows at least this big: long
// sequential writes for the device, started early enough to overlap the
// copy. A kernel-side copy goes in pieces this big when writing behind, or
// it would write a whole piece before writeback of it could start.
constexpr uint64_t kWriteBehindWindow = 4ull << 20;

class WriteBehind {
 public:
  // Off unless `enabled`; the destination range written in ascending order starts at `start`.
  WriteBehind(int fd, bool enabled, uint64_t start) : fd_(fd), enabled_(enabled), started_(start), settled_(start) {}

  // Everything below `dst_pos` has been written. Fails only when the disk
  // reported a write error, which then belongs to the job (see page_cache.cc).
  Status reached(uint64_t dst_pos);

  // After the final flush: lets the rest go.
  void finished(uint64_t end);

  bool enabled() const { return enabled_; }

  // Below this every byte has been written back without error; a failed
  // job resumes no later than here.
  uint64_t settled() const { return settled_; }

 private:
  Status settle_oldest();

  struct Window {
    uint64_t start, end;
  };
  int fd_;
  bool enabled_;
  uint64_t started_;          // writeback has been started below here
  uint64_t settled_;          // on disk and out of the cache below here
  std::deque<Window> in_flight_;  // [settled_, started_), oldest first
  uint64_t in_flight_bytes_ = 0;
};

class ReadBehind {
 public:
  // Off unless `enabled`; the source range [start, end) of a source
  // `file_size` long is read in ascending order, never more than `lookahead`
  // bytes beyond what reached() was told.
  ReadBehind(int fd, bool enabled, uint64_t start, uint64_t end, uint64_t file_size, uint64_t lookahead);

  // Everything below `src_pos` has been read and is no longer needed.
  void reached(uint64_t src_pos);

  // The range is read: what the kernel read ahead past its end goes too.
  void finished();

 private:
  struct Window {
    uint64_t start, end;
    bool was_cached;
  };
  void look_ahead(uint64_t until);

  int fd_;
  bool enabled_;
  uint64_t end_;
  uint64_t lookahead_;
  uint64_t checked_;  // windows below here have been looked at
  std::deque<Window> pending_;  // looked at, not yet read past
};

}  // namespace blockcopy
