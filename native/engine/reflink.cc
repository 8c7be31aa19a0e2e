#include "reflink.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "not_supported.h"

namespace blockcopy {

Status clone_range(int src, uint64_t src_pos, int dst, uint64_t dst_pos, uint64_t length, bool* unsupported) {
  *unsupported = false;
#ifdef FICLONERANGE
  struct file_clone_range range = {};
  range.src_fd = src;
  range.src_offset = src_pos;
  range.src_length = length;
  range.dest_offset = dst_pos;
  int rc;
  do rc = ioctl(dst, FICLONERANGE, &range);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) return Status::Ok();
  if (not_supported_between(errno)) {
    *unsupported = true;
    return Status::Ok();
  }
  return Status::Sys(errno, "ioctl", Side::Destination);
#else
  (void)src, (void)src_pos, (void)dst, (void)dst_pos, (void)length;
  *unsupported = true;
  return Status::Ok();
#endif
}

}  // namespace blockcopy
