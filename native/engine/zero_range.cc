#include "zero_range.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "not_supported.h"
#include "pread_io.h"

namespace blockcopy {

Status RangeZeroer::zero(uint64_t offset, uint64_t length, Zeroing* out) {
  if (length == 0) return Status::Ok();
  if (type_ == FileType::BlockDevice) return zero_device(offset, length, out);
  return zero_file(offset, length, out);
}

Status RangeZeroer::zero_file(uint64_t offset, uint64_t length, Zeroing* out) {
  const off_t off = static_cast<off_t>(offset), len = static_cast<off_t>(length);
  if (punch_works_) {
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0) {
      out->add(ZeroMethod::PunchHole, length);
      return Status::Ok();
    }
    if (!not_supported_here(errno)) return Status::Sys(errno, "fallocate", Side::Destination);
    punch_works_ = false;
  }
  if (zero_range_works_) {
    if (fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) == 0) {
      out->add(ZeroMethod::ZeroRange, length);
      return Status::Ok();
    }
    if (!not_supported_here(errno)) return Status::Sys(errno, "fallocate", Side::Destination);
    zero_range_works_ = false;
  }
  return write_zeros(offset, length, out);
}

Status RangeZeroer::zero_device(uint64_t offset, uint64_t length, Zeroing* out) {
  constexpr uint64_t kSector = 512;
  const uint64_t end = offset + length;
  const uint64_t mid_start = (offset + kSector - 1) / kSector * kSector;
  const uint64_t mid_end = end / kSector * kSector;
  if (!zeroout_works_ || mid_end <= mid_start) return write_zeros(offset, length, out);

  uint64_t range[2] = {mid_start, mid_end - mid_start};
  if (ioctl(fd_, BLKZEROOUT, range) != 0) {
    if (!not_supported_here(errno)) return Status::Sys(errno, "ioctl", Side::Destination);
    zeroout_works_ = false;
    return write_zeros(offset, length, out);
  }
  out->add(ZeroMethod::BlkZeroOut, mid_end - mid_start);
  Status s = write_zeros(offset, mid_start - offset, out);
  if (s.ok()) s = write_zeros(mid_end, end - mid_end, out);
  return s;
}

Status RangeZeroer::write_zeros(uint64_t offset, uint64_t length, Zeroing* out) {
  static const std::vector<unsigned char> zeros(1u << 20, 0);
  for (uint64_t done = 0; done < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
    Status s = write_fully(fd_, zeros.data(), n, offset + done);
    if (!s.ok()) return s;
    out->add(ZeroMethod::ZerosWritten, n);
    done += n;
  }
  return Status::Ok();
}

}  // namespace blockcopy
