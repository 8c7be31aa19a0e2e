// The copy loop: walks the extent map a window at a time, skips or zeroes
// holes, and hands data to a mover (reflink, copy_file_range, io_uring or
// pread/pwrite), stopping cleanly on cancel with an exact resume offset.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "aligned_buffer.h"
#include "backend.h"
#include "chunk_handler.h"
#include "control.h"
#include "copy_plan.h"
#include "nbd_copy.h"
#include "page_cache.h"
#include "request.h"
#include "uring_copy.h"
#include "zero_detect.h"

namespace blockcopy {

class CopyLoop : private ChunkHandler {
 public:
  CopyLoop(CopyPlan& plan, const CopyRequest& req, const BackendPlan& backend, CopyControl& control,
           ProgressSink* sink);

  // Ok with stopped() set means cancelled; any other status is the failure.
  Status run();
  bool stopped() const { return stopped_; }

  // Every source byte in [src_offset, resume_offset) is in the destination.
  uint64_t resume_offset() const;
  // The path that moved most of the data ("reflink", "copy_file_range", ...).
  const char* backend_used() const;

  // After the final flush: the job's pages leave the page cache (page_cache.h).
  // A failed or cancelled job leaves them: it is usually resumed.
  void release_cache();

 private:
  enum Path { kPread, kIoUring, kCopyFileRange, kNbd, kReflink, kPaths };

  Status copy_extents();
  Status copy_window(const std::vector<Extent>& extents);
  Status copy_extent(const Extent& extent);
  Status clone_aligned(uint64_t pos, uint64_t length, uint64_t* cloned_from, uint64_t* cloned_to);
  Status move(uint64_t pos, uint64_t length);
  Status move_with(Mover mover, int src, int dst, uint64_t pos, uint64_t length);
  Status move_pread(int src, int dst, uint64_t pos, uint64_t length);
  Status move_in_kernel(uint64_t pos, uint64_t length);
  Status move_uring(int src, int dst, uint64_t pos, uint64_t length);
  Status move_nbd(uint64_t pos, uint64_t length);
  Status fill_hole(const Extent& extent);
  Status zero_destination(uint64_t dst_pos, uint64_t length, uint64_t done);

  // ChunkHandler, for every user-space mover.
  uint64_t request_size(uint64_t largest) const override;
  void before_read(uint64_t bytes) override;
  std::chrono::nanoseconds try_read(uint64_t bytes) override;
  Status plan_writes(const unsigned char* data, uint32_t length, uint64_t dst_pos,
                     std::vector<Segment>* writes) override;
  void written(uint64_t bytes) override;
  bool checkpoint(uint64_t frontier) override;

  // The edge of the work done so far, relative to the range start: its top
  // when copying forward, its bottom when copying backward.
  uint64_t done_edge(uint64_t src_pos, uint64_t length) const;
  // Between two pieces of work: progress, cancel. False means stop now.
  bool checkpoint_at(uint64_t edge_rel);

  CopyPlan& plan_;
  const CopyRequest& req_;
  Mover mover_;
  bool try_reflink_;
  const bool reflink_required_;
  CopyControl& control_;
  ProgressSink* sink_;
  AlignedBuffer buffer_;
  std::vector<ZeroRun> runs_;  // sparse 'always': the runs of the chunk at hand
  std::unique_ptr<UringCopier> uring_;  // made on first use
  std::unique_ptr<NbdCopier> nbd_;      // made on first use
  WriteBehind write_behind_;
  ReadBehind read_behind_;
  Status writeback_error_;              // from write_behind_: fails the job
  const uint64_t zero_block_;           // sparse 'always': detection unit, in destination blocks
  ReportSchedule reports_;
  Path path_ = kPread;                  // what the running mover counts as
  uint64_t moved_[kPaths] = {};

  uint64_t completed_rel_ = 0;  // forward: range bytes done, contiguous from the start
  bool stopped_ = false;
};

}  // namespace blockcopy
