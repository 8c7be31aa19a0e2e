#include "range_lock.h"

#include <fcntl.h>

#include <cerrno>
#include <string>

namespace blockcopy {

namespace {

struct flock span_lock(short type, const ByteSpan& span) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(span.start);
  fl.l_len = span.end == ByteSpan::kToTheEnd ? 0 : static_cast<off_t>(span.end - span.start);  // 0: to the end
  return fl;
}

int fcntl_retrying(int fd, int cmd, struct flock* fl) {
  int rc;
  do rc = fcntl(fd, cmd, fl);
  while (rc != 0 && errno == EINTR);
  return rc;
}

// The lock exists but another open file holds an overlapping one.
bool held_elsewhere(int err) { return err == EAGAIN || err == EACCES; }

std::string bytes(uint64_t start, uint64_t end) {
  return "bytes " + std::to_string(start) + "-" + (end == ByteSpan::kToTheEnd ? std::string("end") : std::to_string(end));
}

// Names the lock in the way: OFD locks have no owner to name, but a write lock
// is another writer's, and a read lock that of a program holding the file open
// (qemu and qemu-nbd lock bytes 100-299 of the images they use).
std::string describe_holder(int fd, const ByteSpan& wanted) {
  struct flock fl = span_lock(F_WRLCK, wanted);
  if (fcntl_retrying(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
    return "resource busy or locked (another job is writing " + bytes(wanted.start, wanted.end) + " of this destination)";
  const uint64_t start = static_cast<uint64_t>(fl.l_start);
  const uint64_t end = fl.l_len == 0 ? ByteSpan::kToTheEnd : start + static_cast<uint64_t>(fl.l_len);
  if (fl.l_type == F_RDLCK)
    return "resource busy or locked (a program using this destination holds a lock on " + bytes(start, end) +
           ", as qemu does on the images it has open)";
  return "resource busy or locked (another job, in this process or another, is writing " + bytes(start, end) +
         " of this destination)";
}

}  // namespace

std::vector<ByteSpan> spans_changed(uint64_t offset, uint64_t length, bool cuts_at_offset, const uint64_t* new_size) {
  std::vector<ByteSpan> spans;
  if (cuts_at_offset)
    spans.push_back({offset, ByteSpan::kToTheEnd});
  else if (length > 0)
    spans.push_back({offset, offset + length});
  if (new_size) spans.push_back({*new_size, ByteSpan::kToTheEnd});
  return spans;
}

Status RangeLock::acquire(int fd, const std::vector<ByteSpan>& spans) {
  release();
  fd_ = fd;
  for (const ByteSpan& span : spans) {
    if (span.end <= span.start) continue;
    struct flock fl = span_lock(F_WRLCK, span);
    if (fcntl_retrying(fd, F_OFD_SETLK, &fl) == 0) {
      held_.push_back(span);
      continue;
    }
    const int err = errno;
    if (held_elsewhere(err)) {
      Status busy = Status::Sys(EBUSY, "fcntl", Side::Destination, describe_holder(fd, span));
      release();
      return busy;
    }
    // ENOLCK, EINVAL, EOPNOTSUPP, EBADF...: this file cannot be locked; go on without.
  }
  return Status::Ok();
}

void RangeLock::release() {
  for (const ByteSpan& span : held_) {
    struct flock fl = span_lock(F_UNLCK, span);
    fcntl_retrying(fd_, F_OFD_SETLK, &fl);
  }
  held_.clear();
  fd_ = -1;
}

}  // namespace blockcopy
