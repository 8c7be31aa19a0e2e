#include "copy_loop.h"

#include <algorithm>
#include <cerrno>
#include <string>

#include "copy_file_range.h"
#include "pread_io.h"
#include "reflink.h"
#include "zero_detect.h"

namespace blockcopy {

namespace {
// Holes over old data are zeroed in pieces this big, so cancel and progress
// still get a look in during a long BLKZEROOUT or written-zero fallback.
constexpr uint64_t kHolePiece = 256ull << 20;
// Kernel-side copies go in pieces this big when no bandwidth limit asks for
// finer steps: large enough to keep syscalls rare, small enough for progress.
constexpr uint64_t kKernelPiece = 64ull << 20;
constexpr uint64_t kClonePiece = 1ull << 30;
// Under a bandwidth limit a request carries at most 1/32 s of data, so the
// rate holds within about 3% from the first second whatever the block size,
// and a limit set while a job runs takes hold within one request.
constexpr uint64_t kRequestsPerSecond = 32;

uint64_t detection_block(const FileInfo& dst) { return std::max<uint64_t>(dst.block_size, 4096); }

// The page cache is kept small (page_cache.h) for an end read or written in
// ascending order. A copy within one file is left alone: its source pages
// are its destination's.
bool cache_kept(const FileInfo& info, const CopyRequest& req, const CopyPlan& plan) {
  return through_page_cache(info, req.direct) && !plan.backward && !plan.same;
}

// Only a job that flushes at the end writes behind: waiting for the disk
// during the copy costs nothing there. An unflushed copy finishes at memory
// speed and leaves writeback to the kernel, as cp does.
bool flushing(const CopyRequest& req) { return req.fsync != SyncMode::None; }

// How far ahead of the frontier a mover may read: its requests in flight, or one kernel-side piece.
uint64_t read_span(const CopyRequest& req) {
  return std::max<uint64_t>(kKernelPiece, static_cast<uint64_t>(req.queue_depth) * req.block_size);
}
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
uint64_t round_down(uint64_t v, uint64_t a) { return v / a * a; }
}  // namespace

CopyLoop::CopyLoop(CopyPlan& plan, const CopyRequest& req, const BackendPlan& backend, CopyControl& control,
                   ProgressSink* sink)
    : plan_(plan),
      req_(req),
      mover_(backend.mover),
      try_reflink_(backend.try_reflink),
      reflink_required_(backend.reflink_required),
      control_(control),
      sink_(sink),
      buffer_(req.block_size),
      write_behind_(plan.dst.fd(), flushing(req) && cache_kept(plan.dst.info(), req, plan), plan.dst_offset),
      read_behind_(plan.src.fd(), cache_kept(plan.src.info(), req, plan), plan.src_offset,
                   plan.src_offset + plan.length, plan.src.info().size, read_span(req)),
      zero_block_(detection_block(plan.dst.info())),
      reports_(control.meter, req.progress_delay_ms, req.progress_interval_ms) {}

uint64_t CopyLoop::resume_offset() const {
  // A backward copy finishes its top first; only the start of the range is certain.
  if (plan_.backward) return plan_.src_offset;
  // A write error found during writeback: only what was written back before it is certain.
  if (!writeback_error_.ok()) return write_behind_.settled() - plan_.dst_offset + plan_.src_offset;
  return plan_.src_offset + completed_rel_;
}

void CopyLoop::release_cache() {
  read_behind_.finished();
  write_behind_.finished(plan_.dst_offset + plan_.length);
}

const char* CopyLoop::backend_used() const {
  // The movers' names are spelt once, in backend.cc; reflink is not a mover.
  static const Mover movers[] = {Mover::Pread, Mover::IoUring, Mover::CopyFileRange, Mover::Nbd};
  int best = -1;
  for (int p = 0; p < kPaths; p++)
    if (moved_[p] > 0 && (best < 0 || moved_[p] > moved_[best])) best = p;
  if (best < 0) return mover_name(mover_);
  return best == kReflink ? "reflink" : mover_name(movers[best]);
}

Status CopyLoop::run() {
  Status s = copy_extents();
  return writeback_error_.ok() ? s : writeback_error_;
}

// Window by window in the copy's direction (the plan maps the first). Each
// window mapped can only lower the total: its holes leave it.
Status CopyLoop::copy_extents() {
  if (!buffer_.ok()) return Status::Sys(ENOMEM, "malloc", Side::None);
  ExtentWindow& window = plan_.extents;
  control_.meter.set_totals(window.data_bound(), plan_.length);
  if (!checkpoint_at(plan_.backward ? plan_.length : 0)) return Status::Ok();
  for (bool more = !window.extents().empty(); more;) {
    Status s = copy_window(window.extents());
    if (!s.ok() || stopped_) return s;
    s = window.advance(&more);
    if (!s.ok() || !more) return s;
    control_.meter.lower_total(window.data_bound());
    // The range on the walk's near side of the new window is done: its edge is the work's.
    if (!checkpoint_at((plan_.backward ? window.end() : window.start()) - plan_.src_offset)) return Status::Ok();
  }
  return Status::Ok();
}

Status CopyLoop::copy_window(const std::vector<Extent>& extents) {
  for (size_t i = 0; i < extents.size(); i++) {
    const Extent& extent = plan_.backward ? extents[extents.size() - 1 - i] : extents[i];
    Status s = extent.data ? copy_extent(extent) : fill_hole(extent);
    if (!s.ok() || stopped_) return s;
  }
  return Status::Ok();
}

// ---- data extents ----------------------------------------------------------

Status CopyLoop::copy_extent(const Extent& extent) {
  if (plan_.backward) return move_pread(plan_.src.fd(), plan_.dst.fd(), extent.offset, extent.length);
  uint64_t pos = extent.offset;
  const uint64_t end = extent.offset + extent.length;
  if (try_reflink_) {
    uint64_t from = 0, to = 0;
    Status s = clone_aligned(pos, extent.length, &from, &to);
    if (!s.ok() || stopped_) return s;
    if (to > from) {  // head before the clone, then carry on after it
      s = move(pos, from - pos);
      if (!s.ok() || stopped_) return s;
      pos = to;
    }
  }
  return move(pos, end - pos);
}

// Shares the block-aligned middle of [pos, pos + length). Sets [from, to) to
// what was cloned (empty when nothing could be). Turns reflink off for the rest
// of the job when the filesystem says no — unless the caller required it.
Status CopyLoop::clone_aligned(uint64_t pos, uint64_t length, uint64_t* from, uint64_t* to) {
  *from = *to = pos;
  const uint64_t block = plan_.dst.info().block_size ? plan_.dst.info().block_size : 4096;
  const uint64_t start = round_up(pos, block);
  const uint64_t end = round_down(pos + length, block);
  const bool congruent = (plan_.to_dst(pos) - pos) % block == 0;
  if (!congruent && reflink_required_)
    return Status::Sys(EINVAL, "ioctl", Side::Destination,
                       "reflink: 'always' needs srcOffset and dstOffset to differ by a multiple of the "
                       "filesystem block size (" + std::to_string(block) + " bytes)");
  // Too small to hold a whole block: an edge sliver, copied the ordinary way.
  if (!congruent || start >= end) return Status::Ok();
  *from = *to = start;
  while (*to < end) {
    const uint64_t n = std::min(kClonePiece, end - *to);
    bool unsupported = false;
    Status s = clone_range(plan_.src.fd(), *to, plan_.dst.fd(), plan_.to_dst(*to), n, &unsupported);
    if (!s.ok()) return s;
    if (unsupported) {
      if (reflink_required_ || moved_[kReflink] > 0)
        return Status::Sys(EOPNOTSUPP, "ioctl", Side::Destination,
                           "reflink: 'always' but these files cannot share extents (FICLONERANGE refused)");
      try_reflink_ = false;
      *to = *from;  // nothing cloned in this extent: copy it all another way
      return Status::Ok();
    }
    *to += n;
    moved_[kReflink] += n;
    control_.meter.add(n, n, 0);
    if (!checkpoint_at(*to - plan_.src_offset)) return Status::Ok();
  }
  return Status::Ok();
}

// Moves a forward piece. With direct I/O the part whose offsets and length
// are aligned on both sides goes through the O_DIRECT descriptors; an
// unaligned head or tail is finished through the buffered ones, as dd does.
Status CopyLoop::move(uint64_t pos, uint64_t length) {
  if (length == 0) return Status::Ok();
  const int src = plan_.src.fd(), dst = plan_.dst.fd();
  const uint64_t align = plan_.direct_align;
  const uint64_t end = pos + length;
  if (!align || req_.block_size % align != 0 || (plan_.to_dst(pos) - pos) % align != 0)
    return move_with(mover_, src, dst, pos, length);
  const uint64_t a = std::min(round_up(pos, align), end);
  const uint64_t b = std::max(round_down(end, align), a);
  Status s = move_with(Mover::Pread, src, dst, pos, a - pos);
  if (s.ok() && !stopped_) s = move_with(mover_, plan_.src_direct.get(), plan_.dst_direct.get(), a, b - a);
  if (s.ok() && !stopped_) s = move_with(Mover::Pread, src, dst, b, end - b);
  return s;
}

Status CopyLoop::move_with(Mover mover, int src, int dst, uint64_t pos, uint64_t length) {
  if (length == 0) return Status::Ok();
  switch (mover) {
    case Mover::CopyFileRange: return move_in_kernel(pos, length);
    case Mover::IoUring: return move_uring(src, dst, pos, length);
    case Mover::Pread: return move_pread(src, dst, pos, length);
    case Mover::Nbd: return move_nbd(pos, length);
  }
  return Status::Ok();
}

Status CopyLoop::move_pread(int src, int dst, uint64_t pos, uint64_t length) {
  path_ = kPread;
  const uint64_t end = pos + length;
  std::vector<Segment> writes;
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(request_size(req_.block_size), length - done));
    const uint64_t at = plan_.backward ? end - done - n : pos + done;
    before_read(n);
    size_t got = 0;
    Status s = read_fully(src, buffer_.data(), n, at, &got);
    if (!s.ok()) return s;
    if (got < n) return Source::ended_at(at + got);
    const uint64_t dst_pos = plan_.to_dst(at);
    s = plan_writes(buffer_.data(), static_cast<uint32_t>(n), dst_pos, &writes);
    for (const Segment& w : writes) {
      if (!s.ok()) break;
      s = write_fully(dst, buffer_.data() + w.offset, w.length, dst_pos + w.offset);
      if (s.ok()) written(w.length);
    }
    if (!s.ok()) return s;
    done += n;
    if (!checkpoint_at(done_edge(at, n))) return Status::Ok();
  }
  return Status::Ok();
}

Status CopyLoop::move_in_kernel(uint64_t pos, uint64_t length) {
  for (uint64_t done = 0; done < length;) {
    // Under a limit, block-size calls (or smaller): the kernel's large ones would come in bursts.
    // Writing behind, window-sized calls: measured on a 2 GiB flushed copy, 64 MiB calls took
    // 1.2x as long as 4 MiB ones (writeback of each call only started after all of it was in).
    const uint64_t piece = write_behind_.enabled() ? kWriteBehindWindow : kKernelPiece;
    const uint64_t largest = control_.throttle.rate() ? req_.block_size : std::max<uint64_t>(piece, req_.block_size);
    const uint64_t n = std::min(request_size(largest), length - done);
    before_read(n);
    bool unsupported = false;
    uint64_t copied = 0;
    Status s = copy_range_in_kernel(plan_.src.fd(), pos + done, plan_.dst.fd(), plan_.to_dst(pos + done), n,
                                    &unsupported, &copied);
    if (!s.ok()) return s;
    if (unsupported) {
      // Not here, not for this job: the rest goes through user space.
      mover_ = user_space_mover();
      return move(pos + done, length - done);
    }
    moved_[kCopyFileRange] += n;
    control_.meter.add(n, n, 0);
    done += n;
    if (!checkpoint_at(pos + done - plan_.src_offset)) return Status::Ok();
  }
  return Status::Ok();
}

Status CopyLoop::move_uring(int src, int dst, uint64_t pos, uint64_t length) {
  if (!uring_) {
    auto copier = std::make_unique<UringCopier>(req_.block_size, req_.queue_depth);
    Status s = copier->init();
    if (!s.ok()) return s;
    uring_ = std::move(copier);
  }
  path_ = kIoUring;
  uint64_t frontier = pos;
  bool stop = false;
  Status s = uring_->copy(src, dst, pos, length, plan_.to_dst(pos), plan_.reads_first, *this, &frontier, &stop);
  completed_rel_ = frontier - plan_.src_offset;  // exact, whatever order completions came in
  if (stop) stopped_ = true;
  return s;
}

Status CopyLoop::move_nbd(uint64_t pos, uint64_t length) {
  if (!nbd_)
    nbd_ = std::make_unique<NbdCopier>(plan_.src, plan_.dst, req_.block_size, req_.queue_depth);
  path_ = kNbd;
  uint64_t frontier = pos;
  bool stop = false;
  Status s = nbd_->copy(pos, length, plan_.to_dst(pos), *this, &frontier, &stop);
  completed_rel_ = frontier - plan_.src_offset;
  if (stop) stopped_ = true;
  return s;
}

// ---- the ChunkHandler side ---------------------------------------------------

uint64_t CopyLoop::request_size(uint64_t largest) const {
  const uint64_t rate = control_.throttle.rate();
  if (rate == 0) return largest;
  // O_DIRECT needs whole units, and so does a server that takes only whole blocks.
  const uint64_t unit = std::max<uint64_t>({4096, plan_.direct_align, plan_.grid});
  return std::min(largest, std::max(unit, rate / kRequestsPerSecond / unit * unit));
}

void CopyLoop::before_read(uint64_t bytes) { control_.throttle.acquire(bytes, control_.cancel); }

std::chrono::nanoseconds CopyLoop::try_read(uint64_t bytes) { return control_.throttle.try_take(bytes); }

void CopyLoop::written(uint64_t bytes) {
  moved_[path_] += bytes;
  control_.meter.add(bytes, bytes, 0);
}

// The whole chunk is one write, unless sparse 'always' finds all-zero blocks:
// then the chunk splits on destination block boundaries into runs of data
// (written by the mover) and runs of zeros (left as holes, or zeroed over old data).
Status CopyLoop::plan_writes(const unsigned char* data, uint32_t length, uint64_t dst_pos,
                             std::vector<Segment>* writes) {
  writes->clear();
  if (req_.sparse != SparseMode::Always) {
    writes->push_back({0, length});
    return Status::Ok();
  }
  split_zero_runs(data, length, dst_pos, zero_block_, &runs_);
  for (const ZeroRun& run : runs_) {
    if (!run.zero) {
      writes->push_back({static_cast<uint32_t>(run.offset), static_cast<uint32_t>(run.length)});
      continue;
    }
    Status s = zero_destination(dst_pos + run.offset, run.length, run.length);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

bool CopyLoop::checkpoint(uint64_t frontier) { return checkpoint_at(frontier - plan_.src_offset); }

// ---- holes -------------------------------------------------------------------

Status CopyLoop::fill_hole(const Extent& extent) {
  const uint64_t end = extent.offset + extent.length;
  for (uint64_t done = 0; done < extent.length;) {
    const uint64_t n = std::min(kHolePiece, extent.length - done);
    const uint64_t pos = plan_.backward ? end - done - n : extent.offset + done;
    Status s = zero_destination(plan_.to_dst(pos), n, 0);
    if (!s.ok()) return s;
    done += n;
    if (!checkpoint_at(done_edge(pos, n))) return Status::Ok();
  }
  return Status::Ok();
}

// Zeros where the source has none to give: what was zeroed counts apart from
// the data written, the rest (already zero) as skipped. `done`: data bytes
// this stands for (a zero run of a data extent; a hole has none).
Status CopyLoop::zero_destination(uint64_t dst_pos, uint64_t length, uint64_t done) {
  Zeroing zeroing;
  Status s = plan_.dst.zero(dst_pos, length, &zeroing);
  control_.meter.add(done, 0, length - zeroing.bytes);
  control_.meter.add_zeroing(zeroing);
  return s;
}

// ---- progress and cancel -----------------------------------------------------

uint64_t CopyLoop::done_edge(uint64_t src_pos, uint64_t length) const {
  return (plan_.backward ? src_pos : src_pos + length) - plan_.src_offset;
}

bool CopyLoop::checkpoint_at(uint64_t edge_rel) {
  ProgressMeter& meter = control_.meter;
  if (!plan_.backward) {
    completed_rel_ = edge_rel;
    read_behind_.reached(plan_.src_offset + edge_rel);
    writeback_error_ = write_behind_.reached(plan_.dst_offset + edge_rel);
    if (!writeback_error_.ok()) {
      stopped_ = true;  // run() returns the error
      return false;
    }
  }
  meter.reach(plan_.backward ? plan_.length - edge_rel : edge_rel);
  reports_.tick(control_, sink_);
  if (control_.cancel.requested()) stopped_ = true;
  return !stopped_;
}

}  // namespace blockcopy
