#include "copy_plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "range.h"

namespace blockcopy {

static std::string n(uint64_t v) { return std::to_string(v); }

static Status resolve_copy_range(const CopyRequest& req, CopyPlan* plan) {
  plan->src_offset = req.src_offset;
  plan->dst_offset = req.dst_offset;
  return resolve_range(plan->src_info.size, req.src_offset, req.length, "srcOffset", &plan->length);
}

static bool ranges_overlap(uint64_t a, uint64_t b, uint64_t length) {
  return length > 0 && (a < b ? b - a < length : a - b < length);
}

// Checks that need both ends open; nothing has been written yet.
static Status check_destination(const CopyRequest& req, CopyPlan* plan, bool same) {
  if (same && plan->src_offset == plan->dst_offset)
    return Status::Invalid("The argument 'dst' is the source itself, at the same offset (one file under two names)");
  if (plan->is_device()) {
    if (req.dst_size)
      return Status::Sys(EINVAL, "ftruncate", Side::Destination, "dstSize cannot resize a block device");
    if (plan->dst_end() > plan->dst_info.size)
      return Status::Sys(ENOSPC, "write", Side::Destination,
                         "range ends at " + n(plan->dst_end()) + ", past the end of the device (" +
                             n(plan->dst_info.size) + " bytes)");
    return Status::Ok();
  }
  if (req.dst_size && plan->dst_end() > *req.dst_size)
    return Status::OutOfRange("dstOffset + length (" + n(plan->dst_end()) + ") is past dstSize (" +
                              n(*req.dst_size) + ")");
  if (same && req.dst_size && *req.dst_size < plan->src_offset + plan->length)
    return Status::OutOfRange("dstSize (" + n(*req.dst_size) + ") would cut off the source range");
  return Status::Ok();
}

// Sizes a regular destination before the copy and works out which part of the
// range may still hold old data. Truncating drops old data in the range, so
// holes there need no zeroing; the same file is never cut first (that would
// cut the source).
static Status shape_destination(const CopyRequest& req, CopyPlan* plan, bool same) {
  if (plan->is_device()) {
    plan->old_data_end = req.target_is_zero ? 0 : plan->dst_info.size;
    return Status::Ok();
  }
  uint64_t old_end = plan->dst_created.empty() ? plan->dst_info.size : 0;
  if (req.dst_size) {
    Status s = set_file_size(plan->dst.get(), *req.dst_size);
    if (!s.ok()) return s;
    old_end = std::min(old_end, *req.dst_size);
  }
  if (req.truncate && !same && plan->dst_created.empty()) {
    Status s = set_file_size(plan->dst.get(), plan->dst_offset);
    if (!s.ok()) return s;
    old_end = std::min(old_end, plan->dst_offset);
  }
  // Grown to its final size before the first write, so no write extends the
  // file: XFS preallocates past the end of a growing file and keeps what a
  // later write leaves inside it, allocating more than the source has.
  Status s = size_file_to(plan->dst.get(), plan->dst_end(), false);
  if (!s.ok()) return s;
  plan->old_data_end = req.target_is_zero ? 0 : old_end;
  plan->cut_to_end = req.truncate;
  return Status::Ok();
}

static Status map_source(const CopyRequest& req, CopyPlan* plan) {
  if (req.sparse == SparseMode::Never) {
    plan->extents.clear();
    if (plan->length) plan->extents.push_back({plan->src_offset, plan->length, true});
  } else {
    Status s = map_extents(plan->src.get(), plan->src_offset, plan->length, Side::Source, &plan->extents);
    if (!s.ok()) return s;
  }
  plan->data_bytes = data_bytes(plan->extents);
  return Status::Ok();
}

// Reopens both ends with O_DIRECT through /proc/self/fd, which works the same
// for paths and for descriptors the caller handed us.
static Status open_direct(CopyPlan* plan) {
  Status s = reopen_direct(plan->src.get(), O_RDONLY, Side::Source, &plan->src_direct);
  if (s.ok()) s = reopen_direct(plan->dst.get(), O_WRONLY, Side::Destination, &plan->dst_direct);
  if (!s.ok()) return s;
  plan->direct_align = std::max(direct_alignment(plan->src.get(), plan->src_info),
                                direct_alignment(plan->dst.get(), plan->dst_info));
  return Status::Ok();
}

// Before anything of the destination changes: the bytes this job may change
// are locked, or another job holds some of them (EBUSY).
static Status lock_destination(const CopyRequest& req, CopyPlan* plan) {
  const bool cuts = req.truncate && !plan->is_device();
  const uint64_t* new_size = req.dst_size ? &*req.dst_size : nullptr;
  Status s = plan->dst_lock.acquire(plan->dst.get(), spans_changed(plan->dst_offset, plan->length, cuts, new_size));
  // Another job is writing the file, even one we created a moment ago: it is not ours to remove.
  if (!s.ok()) plan->dst_created.clear();
  return s;
}

static Status prepare_opened(const CopyRequest& req, CopyPlan* plan) {
  const bool same = same_file(plan->src_info, plan->dst_info);
  plan->same = same;
  Status s = check_destination(req, plan, same);
  if (!s.ok()) return s;
  s = map_source(req, plan);
  if (!s.ok()) return s;
  plan->backward = same && plan->dst_offset > plan->src_offset &&
                   ranges_overlap(plan->src_offset, plan->dst_offset, plan->length);
  plan->reads_first = same && plan->dst_offset < plan->src_offset;
  if (req.direct) {
    s = open_direct(plan);
    if (!s.ok()) return s;
  }
  return shape_destination(req, plan, same);
}

Status prepare_copy(const CopyRequest& req, CopyPlan* plan) {
  Status s = open_source(req.src, &plan->src, &plan->src_info);
  if (!s.ok()) return s;
  s = resolve_copy_range(req, plan);
  if (!s.ok()) return s;

  DestinationOpen how;
  how.overwrite = req.overwrite;
  how.force = req.force;
  how.create_mode = plan->src_info.type == FileType::Regular ? (plan->src_info.mode & 0777) : 0666;
  s = open_destination(req.dst, how, &plan->dst, &plan->dst_info, &plan->dst_created);
  if (s.ok()) s = lock_destination(req, plan);
  if (s.ok()) s = prepare_opened(req, plan);
  if (!s.ok()) abandon_copy(plan);
  return s;
}

void abandon_copy(CopyPlan* plan) {
  if (plan->dst_created.empty()) return;
  plan->dst_lock.release();
  plan->dst_direct.reset();
  plan->dst.reset();
  unlink(plan->dst_created.c_str());
  plan->dst_created.clear();
}

}  // namespace blockcopy
