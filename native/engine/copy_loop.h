// The pread/pwrite copy loop: walks the extent map, copies data extents in
// blockSize chunks, skips or zeroes holes, and stops cleanly on cancel.
#pragma once

#include <cstdint>

#include "aligned_buffer.h"
#include "control.h"
#include "copy_plan.h"
#include "request.h"
#include "zero_range.h"

namespace blockcopy {

class CopyLoop {
 public:
  CopyLoop(CopyPlan& plan, const CopyRequest& req, JobControl& control, ProgressSink* sink);

  // Ok with stopped() set means cancelled; any other status is the failure.
  Status run();
  bool stopped() const { return stopped_; }

  // Every source byte in [src_offset, resume_offset) is in the destination.
  uint64_t resume_offset() const;

 private:
  Status copy_extent(const Extent& extent);
  Status copy_chunk(uint64_t src_pos, size_t length);
  Status write_sparse(const unsigned char* data, size_t length, uint64_t dst_pos);
  Status skip_or_zero(uint64_t dst_pos, uint64_t length, uint64_t* written);
  Status fill_hole(const Extent& extent);
  // The edge of the work done so far, relative to the range start: its top
  // when copying forward, its bottom when copying backward.
  uint64_t done_edge(uint64_t src_pos, uint64_t length) const;
  // Between two pieces of work: progress, cancel. False means stop now.
  bool checkpoint(uint64_t edge_rel);

  CopyPlan& plan_;
  const CopyRequest& req_;
  JobControl& control_;
  ProgressSink* sink_;
  AlignedBuffer buffer_;
  RangeZeroer zeroer_;
  const uint64_t zero_block_;  // sparse 'always': detection unit, in destination blocks

  ProgressMeter::Clock::time_point next_report_;
  uint64_t completed_rel_ = 0;  // forward: range bytes done, contiguous from the start
  bool stopped_ = false;
};

}  // namespace blockcopy
