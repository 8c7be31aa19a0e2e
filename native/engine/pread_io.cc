#include "pread_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

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
  uint64_t written = 0;
  return write_gathered_fully(fd, {{const_cast<unsigned char*>(buf), length}}, offset, &written);
}

// Drops the first `n` bytes written from the front of `pieces`, from `*first` on.
static void consume(std::vector<iovec>& pieces, size_t* first, size_t n) {
  while (n > 0) {
    iovec& v = pieces[*first];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      ++*first;
    } else {
      v.iov_base = static_cast<unsigned char*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
  while (*first < pieces.size() && pieces[*first].iov_len == 0) ++*first;
}

Status write_gathered_fully(int fd, std::vector<iovec> pieces, uint64_t offset, uint64_t* written) {
#ifdef BLOCKCOPY_FAULT_INJECTION
  const std::vector<iovec> as_given = pieces;
#endif
  uint64_t& done = *written;
  done = 0;
  uint64_t total = 0;
  for (const iovec& v : pieces) total += v.iov_len;
  // Short writes continue where they stopped; at most IOV_MAX pieces per call.
  size_t first = 0;
  while (*written < total) {
    const int count = static_cast<int>(std::min<size_t>(pieces.size() - first, IOV_MAX));
    if (fault_at(FaultOp::Write, offset + done, total - done)) return Status::Sys(EIO, "write", Side::Destination);
    const ssize_t n = pwritev(fd, pieces.data() + first, count, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Sys(errno, "write", Side::Destination);
    }
    // A zero-byte write with room left means no progress is possible (a full device).
    if (n == 0) return Status::Sys(ENOSPC, "write", Side::Destination);
    done += static_cast<uint64_t>(n);
    consume(pieces, &first, static_cast<size_t>(n));
  }
#ifdef BLOCKCOPY_FAULT_INJECTION
  corrupt_if_chosen(fd, offset, as_given);
#endif
  return Status::Ok();
}

}  // namespace blockcopy
