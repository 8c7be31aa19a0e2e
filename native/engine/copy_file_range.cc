#include "copy_file_range.h"

#include <unistd.h>

#include <cerrno>

#include "fault_injection.h"
#include "not_supported.h"
#include "source.h"

namespace blockcopy {

Status copy_range_in_kernel(int src, uint64_t src_pos, int dst, uint64_t dst_pos, uint64_t length,
                            bool* unsupported, uint64_t* copied) {
  *unsupported = false;
  *copied = 0;
  while (*copied < length) {
    if (fault_at(FaultOp::Read, src_pos + *copied, length - *copied))
      return Status::Sys(EIO, "copy_file_range", Side::Source);
    if (fault_at(FaultOp::Write, dst_pos + *copied, length - *copied))
      return Status::Sys(EIO, "copy_file_range", Side::Destination);
    loff_t in = static_cast<loff_t>(src_pos + *copied);
    loff_t out = static_cast<loff_t>(dst_pos + *copied);
    ssize_t n = copy_file_range(src, &in, dst, &out, length - *copied, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (*copied == 0 && not_supported_between(errno)) {
        *unsupported = true;
        return Status::Ok();
      }
      // Which end failed is not reported; a write-side error is the likelier one.
      return Status::Sys(errno, "copy_file_range", Side::Destination);
    }
    if (n == 0) return Source::ended_at(src_pos + *copied);
    *copied += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace blockcopy
