// The kernel's ways of saying "this call, not here": the errno values after
// which the engine tries the next way instead of failing (copy_file_range and
// FICLONERANGE fall back to copying in user space, PUNCH_HOLE to ZERO_RANGE
// to written zeros, BLKZEROOUT to written zeros, SEEK_DATA to "all data").
#pragma once

#include <cerrno>

namespace blockcopy {

// The call exists but this file, filesystem or kernel cannot do it.
inline bool not_supported_here(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS || err == EINVAL || err == ENOTTY || err == EPERM;
}

// For a call on two files: the same, or these two cannot do it together
// (different filesystems, a descriptor it does not take, a size it will not do).
inline bool not_supported_between(int err) {
  return not_supported_here(err) || err == EXDEV || err == EBADF || err == EFBIG || err == ETXTBSY;
}

}  // namespace blockcopy
