// Sharing extents instead of copying them: FICLONERANGE on filesystems that
// can (XFS with reflink, btrfs). Costs metadata only; the data is not read.
#pragma once

#include <cstdint>

#include "status.h"

namespace blockcopy {

// Clones [src_pos, src_pos + length) to dst_pos. Offsets and length must be
// multiples of the filesystem block size. `*unsupported` (with an ok status)
// means this filesystem pair cannot clone: another way must copy the bytes.
Status clone_range(int src, uint64_t src_pos, int dst, uint64_t dst_pos, uint64_t length, bool* unsupported);

}  // namespace blockcopy
