#include "write_behind.h"

#include <fcntl.h>

namespace blockcopy {

namespace {
// Big enough that the device sees long sequential writes, small enough that
// the disk starts early.
constexpr uint64_t kWindow = 32ull << 20;
}  // namespace

// Only starts writeback (no waiting): waiting for the disk here slowed the
// stream more than it saved at the end. Errors are ignored on purpose: the
// final fsync still reports any failure to write.
void WriteBehind::reached(uint64_t dst_pos) {
  if (!enabled_ || dst_pos < flushed_ + kWindow) return;
  sync_file_range(fd_, static_cast<off_t>(flushed_), static_cast<off_t>(dst_pos - flushed_), SYNC_FILE_RANGE_WRITE);
  flushed_ = dst_pos;
}

}  // namespace blockcopy
