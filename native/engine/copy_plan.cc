#include "copy_plan.h"

#include <fcntl.h>

#include <algorithm>
#include <string>

#include "block_grid.h"

namespace blockcopy {

static bool ranges_overlap(uint64_t a, uint64_t b, uint64_t length) {
  return length > 0 && (a < b ? b - a < length : a - b < length);
}

// What only a copy within one file must check; nothing has been written yet.
static Status check_same_file(const CopyRequest& req, const CopyPlan& plan) {
  if (!plan.same) return Status::Ok();
  if (plan.src_offset == plan.dst_offset)
    return Status::Invalid("The argument 'dst' is the source itself, at the same offset (one file under two names)");
  if (req.dst_size && *req.dst_size < plan.src_offset + plan.length)
    return Status::OutOfRange("dstSize (" + std::to_string(*req.dst_size) + ") would cut off the source range");
  return Status::Ok();
}

// Reopens both ends with O_DIRECT through /proc/self/fd, which works the same
// for paths and for descriptors the caller handed us.
static Status open_direct(CopyPlan* plan) {
  Status s = reopen_direct(plan->src.fd(), O_RDONLY, Side::Source, &plan->src_direct);
  if (s.ok()) s = reopen_direct(plan->dst.fd(), O_WRONLY, Side::Destination, &plan->dst_direct);
  if (!s.ok()) return s;
  plan->direct_align = std::max(direct_alignment(plan->src.fd(), plan->src.info()),
                                direct_alignment(plan->dst.fd(), plan->dst.info()));
  return Status::Ok();
}

// A destination server that takes only whole blocks: the range must start on
// its grid and end on it (or at the export's end). The windows then start on
// the grid too, and each window's holes keep only their whole blocks
// (block_grid.h), so no request is ever off the grid.
static Status fit_destination_grid(CopyPlan* plan) {
  const NbdExport* nbd = plan->dst.nbd();
  if (!nbd || nbd->info().min_block <= 1) return Status::Ok();
  const uint64_t grid = nbd->info().min_block;
  if (plan->dst_offset % grid != 0 || (plan->dst_end() % grid != 0 && plan->dst_end() != nbd->size()))
    return Status::Invalid("The destination's NBD server takes only whole blocks of " + std::to_string(grid) +
                           " bytes: dstOffset (" + std::to_string(plan->dst_offset) + ") and dstOffset + length (" +
                           std::to_string(plan->dst_end()) + ") must be multiples of it, or end at the export's end");
  plan->grid = grid;
  return Status::Ok();
}

static DestinationRange destination_range(const CopyRequest& req, const CopyPlan& plan) {
  DestinationRange range;
  range.offset = plan.dst_offset;
  range.length = plan.length;
  range.new_size = req.dst_size;
  range.truncate = req.truncate;
  range.target_is_zero = req.target_is_zero;
  return range;
}

static Status prepare_opened(const CopyRequest& req, CopyPlan* plan) {
  plan->same = same_file(plan->src.info(), plan->dst.info());
  // One image file through two qemu-nbd servers (or one of them and a plain
  // open) can only fight over it: refused before a server starts for dst.
  if (plan->same && (req.src.over_nbd() || req.dst.over_nbd()))
    return Status::Invalid("The argument 'dst' is the source's own image file");
  Status s = plan->dst.claim(destination_range(req, *plan));
  if (s.ok()) s = check_same_file(req, *plan);
  if (!s.ok()) return s;
  s = fit_destination_grid(plan);
  if (!s.ok()) return s;
  plan->backward = plan->same && plan->dst_offset > plan->src_offset &&
                   ranges_overlap(plan->src_offset, plan->dst_offset, plan->length);
  plan->reads_first = plan->same && plan->dst_offset < plan->src_offset;
  s = plan->extents.open(plan->src, plan->src_offset, plan->length, req.sparse,
                         plan->backward ? Walk::Down : Walk::Up,
                         {plan->grid, (plan->dst_offset % plan->grid + plan->grid - plan->src_offset % plan->grid) % plan->grid});
  if (!s.ok()) return s;
  if (req.direct) {
    s = open_direct(plan);
    if (!s.ok()) return s;
  }
  // A copy sizes first, as cp's O_TRUNC does; the same file is never cut first
  // (that would cut the source).
  return plan->dst.prepare(Resize::First, plan->same);
}

Status prepare_copy(const CopyRequest& req, CopyPlan* plan) {
  plan->src_offset = req.src_offset;
  plan->dst_offset = req.dst_offset;
  Status s = plan->src.open(req.src);
  if (s.ok()) s = plan->src.resolve(req.src_offset, req.length, "srcOffset", &plan->length);
  if (!s.ok()) return s;

  DestinationOpen how;
  how.overwrite = req.overwrite;
  how.force = req.force;
  const FileInfo& src = plan->src.info();
  how.create_mode = src.type == FileType::Regular ? (src.mode & 0777) : 0666;
  s = plan->dst.open(req.dst, how);
  if (s.ok()) s = prepare_opened(req, plan);
  if (!s.ok()) plan->dst.abandon();
  return s;
}

}  // namespace blockcopy
