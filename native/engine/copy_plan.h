// Everything decided before the first byte moves: both ends open and checked,
// the range validated against the source, the destination claimed, the
// extent map's first window taken and the destination sized. A failure here
// leaves no destination behind that we created.
#pragma once

#include <cstdint>

#include "destination.h"
#include "extent_window.h"
#include "file.h"
#include "request.h"
#include "source.h"
#include "status.h"

namespace blockcopy {

struct CopyPlan {
  Source src;
  Destination dst;
  bool same = false;  // source and destination are one file or device

  // direct: true — second descriptors with O_DIRECT, used where offsets and
  // lengths are multiples of direct_align; the rest goes through src/dst (dd's way).
  Fd src_direct, dst_direct;
  uint32_t direct_align = 0;

  uint64_t src_offset = 0, dst_offset = 0, length = 0;
  // The destination's block, where its server takes nothing smaller (NBD's
  // minimum block size): every write and zero starts and ends on it. 1: none.
  uint64_t grid = 1;

  // Same file, destination above an overlapping source: copy from the top down
  // (memmove), so no source byte is overwritten before it is read.
  bool backward = false;
  // Same file, destination below the source: copied upwards, and a write must
  // not land on source bytes a read still in flight has yet to fetch.
  bool reads_first = false;

  // The source range's extents, a window at a time in the copy's direction:
  // the copy maps each window as it reaches it (extent_window.h).
  ExtentWindow extents;

  uint64_t dst_end() const { return dst_offset + length; }
  uint64_t to_dst(uint64_t src_pos) const { return src_pos - src_offset + dst_offset; }
};

Status prepare_copy(const CopyRequest& req, CopyPlan* plan);

}  // namespace blockcopy
