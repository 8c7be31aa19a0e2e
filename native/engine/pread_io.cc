#include "pread_io.h"

#include <unistd.h>

#include <cerrno>

#include "fault_injection.h"

namespace blockcopy {

Status read_fully(int fd, unsigned char* buf, size_t length, uint64_t offset, size_t* got) {
  size_t done = 0;
  while (done < length) {
    if (fault_at(FaultOp::Read, offset + done, length - done)) {
      *got = done;
      return Status::Sys(EIO, "read", Side::Source);
    }
    ssize_t n = pread(fd, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      *got = done;
      return Status::Sys(errno, "read", Side::Source);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  *got = done;
  return Status::Ok();
}

Status write_fully(int fd, const unsigned char* buf, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    if (fault_at(FaultOp::Write, offset + done, length - done)) return Status::Sys(EIO, "write", Side::Destination);
    ssize_t n = pwrite(fd, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Sys(errno, "write", Side::Destination);
    }
    // A zero-byte write with room left means no progress is possible (a full device).
    if (n == 0) return Status::Sys(ENOSPC, "write", Side::Destination);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace blockcopy
