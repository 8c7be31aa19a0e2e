// copy()'s `verify`: once the copy is done and flushed, the destination range
// is read back from the disk, not the page cache, and compared block by block
// with the source range. Holes on both sides compare without reading; a hole
// against data compares as zeros.
#pragma once

#include <cstdint>

#include "control.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

struct VerifyRange {
  Target src, dst;
  uint64_t src_offset = 0, dst_offset = 0, length = 0;
};

// Ok when every byte matches; ERR_BLOCKCOPY_VERIFY naming the first byte and
// block that differ otherwise. `*known_equal` is how far from the range's
// start the two were compared and found equal: the first difference, or where
// a read failed (a server that cannot answer has confirmed nothing past it).
// Counts its progress in the meter's verify phase.
Status verify_range(const VerifyRange& range, CopyControl& control, ReportSchedule& schedule, ProgressSink* sink,
                    uint64_t* known_equal);

}  // namespace blockcopy
