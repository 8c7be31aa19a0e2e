// The kernel copies for us: copy_file_range between regular files, in chunks
// small enough that progress, cancel and the throttle still get a look in.
#pragma once

#include <cstdint>

#include "status.h"

namespace blockcopy {

// Copies exactly `length` bytes. `*unsupported` is set (with an ok status)
// when the kernel or filesystem will not do it here at all — EXDEV, ENOSYS,
// EOPNOTSUPP, EPERM (seccomp), EINVAL, EFBIG before any byte moved — so the
// caller falls back to reading and writing itself. `*copied` counts what did move.
Status copy_range_in_kernel(int src, uint64_t src_pos, int dst, uint64_t dst_pos, uint64_t length,
                            bool* unsupported, uint64_t* copied);

}  // namespace blockcopy
