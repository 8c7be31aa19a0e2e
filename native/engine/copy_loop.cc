#include "copy_loop.h"

#include <algorithm>
#include <cerrno>
#include <string>

#include "pread_io.h"
#include "zero_detect.h"

namespace blockcopy {

namespace {
// Holes over old data are zeroed in pieces this big, so cancel and progress
// still get a look in during a long BLKZEROOUT or written-zero fallback.
constexpr uint64_t kHolePiece = 256ull << 20;

uint64_t detection_block(const FileInfo& dst) {
  return std::max<uint64_t>(dst.block_size, 4096);
}
}  // namespace

CopyLoop::CopyLoop(CopyPlan& plan, const CopyRequest& req, JobControl& control, ProgressSink* sink)
    : plan_(plan),
      req_(req),
      control_(control),
      sink_(sink),
      buffer_(req.block_size),
      zeroer_(plan.dst.get(), plan.dst_info.type),
      zero_block_(detection_block(plan.dst_info)) {
  next_report_ = control_.meter.started() + std::chrono::milliseconds(req.progress_delay_ms);
}

uint64_t CopyLoop::resume_offset() const {
  // A backward copy finishes its top first; only the start of the range is certain.
  return plan_.src_offset + (plan_.backward ? 0 : completed_rel_);
}

Status CopyLoop::run() {
  if (!buffer_.ok()) return Status::Sys(ENOMEM, "malloc", Side::None);
  control_.meter.set_totals(plan_.data_bytes, plan_.length);
  if (!checkpoint(plan_.backward ? plan_.length : 0)) return Status::Ok();
  const auto& extents = plan_.extents;
  for (size_t i = 0; i < extents.size(); i++) {
    const Extent& extent = plan_.backward ? extents[extents.size() - 1 - i] : extents[i];
    Status s = extent.data ? copy_extent(extent) : fill_hole(extent);
    if (!s.ok() || stopped_) return s;
  }
  return Status::Ok();
}

Status CopyLoop::copy_extent(const Extent& extent) {
  const uint64_t end = extent.offset + extent.length;
  const uint64_t step = req_.block_size;
  for (uint64_t done = 0; done < extent.length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(step, extent.length - done));
    const uint64_t pos = plan_.backward ? end - done - n : extent.offset + done;
    control_.throttle.acquire(n, control_.cancelled);
    Status s = copy_chunk(pos, n);
    if (!s.ok()) return s;
    done += n;
    if (!checkpoint(done_edge(pos, n))) return Status::Ok();
  }
  return Status::Ok();
}

Status CopyLoop::copy_chunk(uint64_t src_pos, size_t length) {
  size_t got = 0;
  Status s = read_fully(plan_.src.get(), buffer_.data(), length, src_pos, &got);
  if (!s.ok()) return s;
  if (got < length)
    return Status::Sys(EIO, "read", Side::Source,
                       "source ended at " + std::to_string(src_pos + got) +
                           ", inside the range being copied (did it shrink during the copy?)");
  const uint64_t dst_pos = plan_.to_dst(src_pos);
  if (req_.sparse == SparseMode::Always) return write_sparse(buffer_.data(), length, dst_pos);
  s = write_fully(plan_.dst.get(), buffer_.data(), length, dst_pos);
  if (s.ok()) control_.meter.add(length, length, 0);
  return s;
}

// Splits a chunk on destination block boundaries into runs of data and of
// zeros; data runs are written in one call, zero runs become holes.
Status CopyLoop::write_sparse(const unsigned char* data, size_t length, uint64_t dst_pos) {
  size_t i = 0;
  while (i < length) {
    const uint64_t first_block_end = (dst_pos + i) / zero_block_ * zero_block_ + zero_block_;
    size_t run_end = static_cast<size_t>(std::min<uint64_t>(length, first_block_end - dst_pos));
    const bool zero = is_all_zero(data + i, run_end - i);
    while (run_end < length) {
      const size_t next = static_cast<size_t>(std::min<uint64_t>(length, run_end + zero_block_));
      if (is_all_zero(data + run_end, next - run_end) != zero) break;
      run_end = next;
    }
    const size_t run = run_end - i;
    if (zero) {
      uint64_t written = 0;
      Status s = skip_or_zero(dst_pos + i, run, &written);
      control_.meter.add(run, written, run - written);
      if (!s.ok()) return s;
    } else {
      Status s = write_fully(plan_.dst.get(), data + i, run, dst_pos + i);
      if (!s.ok()) return s;
      control_.meter.add(run, run, 0);
    }
    i = run_end;
  }
  return Status::Ok();
}

// Makes [dst_pos, dst_pos + length) read as zeros: nothing to do where the
// destination already does, zeroing only over old data.
Status CopyLoop::skip_or_zero(uint64_t dst_pos, uint64_t length, uint64_t* written) {
  *written = 0;
  if (dst_pos >= plan_.old_data_end) return Status::Ok();
  const uint64_t n = std::min(length, plan_.old_data_end - dst_pos);
  return zeroer_.zero(dst_pos, n, written);
}

Status CopyLoop::fill_hole(const Extent& extent) {
  const uint64_t end = extent.offset + extent.length;
  for (uint64_t done = 0; done < extent.length;) {
    const uint64_t n = std::min(kHolePiece, extent.length - done);
    const uint64_t pos = plan_.backward ? end - done - n : extent.offset + done;
    uint64_t written = 0;
    Status s = skip_or_zero(plan_.to_dst(pos), n, &written);
    control_.meter.add(0, written, n - written);
    if (!s.ok()) return s;
    done += n;
    if (!checkpoint(done_edge(pos, n))) return Status::Ok();
  }
  return Status::Ok();
}

uint64_t CopyLoop::done_edge(uint64_t src_pos, uint64_t length) const {
  return (plan_.backward ? src_pos : src_pos + length) - plan_.src_offset;
}

bool CopyLoop::checkpoint(uint64_t edge_rel) {
  ProgressMeter& meter = control_.meter;
  if (!plan_.backward) completed_rel_ = edge_rel;
  meter.reach(plan_.backward ? plan_.length - edge_rel : edge_rel);
  const auto now = ProgressMeter::Clock::now();
  meter.sample(now);
  if (sink_ && now >= next_report_) {
    next_report_ = now + std::chrono::milliseconds(req_.progress_interval_ms);
    if (!sink_->report(meter.snapshot())) control_.cancel();
  }
  if (control_.is_cancelled()) stopped_ = true;
  return !stopped_;
}

}  // namespace blockcopy
