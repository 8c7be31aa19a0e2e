#include "extent_window.h"

#include <algorithm>

#include "block_grid.h"

namespace blockcopy {

Status ExtentWindow::open(const Source& src, uint64_t offset, uint64_t length, SparseMode sparse, Walk walk,
                          Grid grid) {
  src_ = &src;
  grid_ = grid;
  offset_ = offset;
  length_ = length;
  sparse_ = sparse;
  walk_ = walk;
  data_mapped_ = 0;
  unmapped_ = length;
  extents_.clear();
  start_ = end_ = walk == Walk::Up ? offset : offset + length;
  if (length == 0) return Status::Ok();
  if (walk == Walk::Up) return map(offset, offset + std::min(length, kExtentWindow));
  // The top window is the grid's last, which may be short.
  return map(offset + (length - 1) / kExtentWindow * kExtentWindow, offset + length);
}

Status ExtentWindow::advance(bool* more) {
  const uint64_t range_end = offset_ + length_;
  *more = walk_ == Walk::Up ? end_ < range_end : start_ > offset_;
  if (!*more) {
    extents_.clear();
    start_ = end_;
    return Status::Ok();
  }
  if (walk_ == Walk::Up) return map(end_, end_ + std::min(range_end - end_, kExtentWindow));
  return map(start_ - kExtentWindow, start_);
}

Status ExtentWindow::map(uint64_t start, uint64_t end) {
  Status s = src_->extents(start, end - start, sparse_, &extents_);
  if (!s.ok()) return s;
  if (grid_.size > 1) snap_to_grid();
  start_ = start;
  end_ = end;
  unmapped_ -= end - start;
  data_mapped_ += data_bytes(extents_);
  return Status::Ok();
}

void ExtentWindow::snap_to_grid() {
  GridSnapper snapper(grid_.size, grid_.phase);
  std::vector<Extent> snapped;
  for (const Extent& e : extents_) snapper.add(e, &snapped);
  snapper.finish(&snapped);
  extents_.swap(snapped);
}

}  // namespace blockcopy
