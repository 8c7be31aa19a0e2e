#include "block_grid.h"

#include <algorithm>

namespace blockcopy {

uint64_t GridSnapper::up(uint64_t p) const {
  const uint64_t off = (p + phase_) % grid_;
  return off == 0 ? p : p + (grid_ - off);
}

uint64_t GridSnapper::down(uint64_t p) const { return p - (p + phase_) % grid_; }

// The held hole ends where data (or the range's end) begins: it stays a hole
// up to the last grid point before that, and the rest of its block is data.
void GridSnapper::release_hole(uint64_t data_from, std::vector<Extent>* out) {
  if (!held_) return;
  const uint64_t start = held_->offset, end = held_->offset + held_->length;
  const uint64_t cut = std::max(start, std::min(end, down(data_from)));
  append_extent(out, start, cut - start, false);
  append_extent(out, cut, end - cut, true);
  held_.reset();
}

void GridSnapper::add(const Extent& e, std::vector<Extent>* out) {
  if (grid_ <= 1) {
    append_extent(out, e.offset, e.length, e.data);
    return;
  }
  const uint64_t end = e.offset + e.length;
  if (e.data) {
    release_hole(e.offset, out);
    append_extent(out, e.offset, e.length, true);
    return;
  }
  if (held_) {  // the same hole, cut by a window's edge
    held_->length += e.length;
    return;
  }
  // Up to the grid, a hole shares its block with what came before: data.
  const uint64_t on_grid = std::min(up(e.offset), end);
  append_extent(out, e.offset, on_grid - e.offset, true);
  if (on_grid < end) held_ = Extent{on_grid, end - on_grid, false};
}

void GridSnapper::finish(std::vector<Extent>* out) {
  if (held_) release_hole(held_->offset + held_->length, out);
}

}  // namespace blockcopy
