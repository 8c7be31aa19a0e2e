#include "page_cache.h"

#include "fault_injection.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <vector>

namespace blockcopy {

Status evict_range(int fd, uint64_t offset, uint64_t length, Side side) {
  // Dirty pages cannot be dropped: they go to the disk first.
  if (fdatasync(fd) != 0) return Status::Sys(errno, "fdatasync", side);
  posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
  return Status::Ok();
}

namespace {

// At most this much of the destination is dirty or under writeback at once.
// Measured on a 2 GiB flushed copy (5 interleaved runs): 1/8, 2/16, 4/32,
// 8/64 and 16/256 MiB (window/in flight) all within noise of each other and
// of nbdcopy; the smaller ones keep less in the cache.
constexpr uint64_t kInFlight = 32ull << 20;
// A source is looked at in windows this big.
constexpr uint64_t kReadWindow = 8ull << 20;
// The kernel's readahead runs ahead of our reads, up to twice the device's
// read_ahead_kb (the next window starts while the last is read; 8 MiB here);
// a window it has already pulled in must not count as "cached before the job".
// Misjudging only leaves a window cached.
constexpr uint64_t kReadaheadMargin = 32ull << 20;

// cachestat(2), Linux 6.5: how much of a range is cached, without a mapping
// and in time that grows with what is cached, not with the range.
constexpr long kCachestatSyscall = 451;  // the same number on every architecture
struct CachestatRange {
  uint64_t off, len;
};
struct Cachestat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

// Whether any page of [start, end) is in the page cache. When neither way
// can tell, "yes": leaving a page in the cache is always safe.
bool any_cached(int fd, uint64_t start, uint64_t end) {
  static std::atomic<bool> no_cachestat{false};  // jobs on several threads ask
  if (!no_cachestat.load(std::memory_order_relaxed)) {
    CachestatRange range{start, end - start};
    Cachestat stat{};
    if (syscall(kCachestatSyscall, fd, &range, &stat, 0) == 0) return stat.nr_cache > 0;
    // An older kernel (ENOSYS), or a seccomp profile that does not know the call (EPERM):
    // mincore over a mapping, as nbdcopy does.
    if (errno != ENOSYS && errno != EPERM) return true;
    no_cachestat.store(true, std::memory_order_relaxed);
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t at = start / page * page;
  const size_t length = static_cast<size_t>(end - at);
  void* map = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(at));
  if (map == MAP_FAILED) return true;
  std::vector<unsigned char> resident((length + page - 1) / page);
  const bool known = mincore(map, length, resident.data()) == 0;
  munmap(map, length);
  return !known || std::any_of(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; });
}

void drop(int fd, uint64_t start, uint64_t end) {
  posix_fadvise(fd, static_cast<off_t>(start), static_cast<off_t>(end - start), POSIX_FADV_DONTNEED);
}

}  // namespace

// ---- WriteBehind -------------------------------------------------------------

Status WriteBehind::reached(uint64_t dst_pos) {
  if (!enabled_ || dst_pos < started_ + kWriteBehindWindow) return Status::Ok();
  // Only starts writeback, which reports nothing we need now: a failure to
  // start it shows again when the window is waited for, or at the flush.
  sync_file_range(fd_, static_cast<off_t>(started_), static_cast<off_t>(dst_pos - started_), SYNC_FILE_RANGE_WRITE);
  // Waited for a window at a time, however far the copy got since the last
  // call (a deep queue's frontier jumps): a writeback error then leaves the
  // resume point at the window before it, not at the start of the jump.
  while (started_ < dst_pos) {
    const uint64_t end = dst_pos - started_ < 2 * kWriteBehindWindow ? dst_pos : started_ + kWriteBehindWindow;
    in_flight_.push_back({started_, end});
    in_flight_bytes_ += end - started_;
    started_ = end;
  }
  while (in_flight_bytes_ > kInFlight) {
    Status s = settle_oldest();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// Waiting with sync_file_range hands a writeback error to us and not to the
// final fsync on this descriptor (the kernel's per-file error cursor moves
// on), so an error here must fail the job: ignoring it would lose data.
Status WriteBehind::settle_oldest() {
  const Window w = in_flight_.front();
  in_flight_.pop_front();
  in_flight_bytes_ -= w.end - w.start;
  const unsigned wait = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  if (fault_at(FaultOp::Writeback, w.start, w.end - w.start)) return Status::Sys(EIO, "sync_file_range", Side::Destination);
  if (sync_file_range(fd_, static_cast<off_t>(w.start), static_cast<off_t>(w.end - w.start), wait) != 0) {
    if (errno == EINVAL || errno == ESPIPE || errno == ENOSYS) {
      enabled_ = false;  // not something writeback can be started on: the flush does it all
      return Status::Ok();
    }
    return Status::Sys(errno, "sync_file_range", Side::Destination);
  }
  drop(fd_, w.start, w.end);
  settled_ = w.end;
  return Status::Ok();
}

void WriteBehind::finished(uint64_t end) {
  if (!enabled_ || end <= settled_) return;
  drop(fd_, settled_, end);  // on disk: the flush is done
  in_flight_.clear();
  in_flight_bytes_ = 0;
  settled_ = started_ = end;
}

// ---- ReadBehind --------------------------------------------------------------

// Windows past the range's end are looked at too: reading its last part
// makes the kernel read ahead beyond it.
ReadBehind::ReadBehind(int fd, bool enabled, uint64_t start, uint64_t end, uint64_t file_size, uint64_t lookahead)
    : fd_(fd),
      enabled_(enabled),
      end_(std::max(end, std::min(file_size, end + kReadaheadMargin))),
      lookahead_(lookahead + kReadWindow + kReadaheadMargin),
      checked_(start) {
  look_ahead(start);
}

void ReadBehind::finished() { reached(end_); }

void ReadBehind::reached(uint64_t src_pos) {
  if (!enabled_) return;
  while (!pending_.empty() && pending_.front().end <= src_pos) {
    const Window w = pending_.front();
    pending_.pop_front();
    if (!w.was_cached) drop(fd_, w.start, w.end);
  }
  look_ahead(src_pos);
}

// Decides, for each window before our reads reach it, whether the job found
// it cached.
void ReadBehind::look_ahead(uint64_t src_pos) {
  if (!enabled_) return;
  const uint64_t until = std::min(end_, src_pos + lookahead_);
  for (; checked_ < until; checked_ = std::min(end_, checked_ + kReadWindow))
    pending_.push_back({checked_, std::min(end_, checked_ + kReadWindow), any_cached(fd_, checked_, std::min(end_, checked_ + kReadWindow))});
}

}  // namespace blockcopy
