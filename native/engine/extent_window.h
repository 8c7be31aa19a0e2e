// Where the data is, a window at a time: the extents of a range, asked of the
// source (SEEK_DATA/SEEK_HOLE, NBD block status) one window ahead of the walk
// through the range rather than all up front. Memory holds one window's
// extents whatever the range's size or extent count, and whoever walks can
// look at cancel, and report, between two requests.
#pragma once

#include <cstdint>
#include <vector>

#include "extent_map.h"
#include "request.h"
#include "source.h"
#include "status.h"

namespace blockcopy {

// The range is mapped this much at a time (nbdcopy works in 128 MiB ranges):
// one NBD block status request, at most 256 Ki extents of 512 bytes. Windows
// lie on the range's own grid, from its start, so a window holds whole
// digest blocks and whole stream pieces.
constexpr uint64_t kExtentWindow = 128ull << 20;

// Which way the walk goes: upwards, or from the top down (a copy within one
// file onto an overlapping range above its source).
enum class Walk { Up, Down };

// The destination's block grid a copy's extents are cut on (block_grid.h):
// `size` 1 for none; source offset p is on it when (p + phase) % size == 0.
struct Grid {
  uint64_t size = 1;
  uint64_t phase = 0;
};

class ExtentWindow {
 public:
  ExtentWindow() = default;
  ExtentWindow(const ExtentWindow&) = delete;
  ExtentWindow& operator=(const ExtentWindow&) = delete;

  // The range [offset, offset + length) of `src`, which must outlive this;
  // maps the walk's first window, so a source that cannot be mapped fails here.
  // With a `grid`, each window's holes keep only their whole blocks of it (the
  // window's edges must lie on it): the rest of a block is data.
  Status open(const Source& src, uint64_t offset, uint64_t length, SparseMode sparse, Walk walk = Walk::Up,
              Grid grid = {});

  // Maps the next window in the walk, in place of the last one. `*more` is
  // false, and the window empty, once the whole range has been walked.
  Status advance(bool* more);

  // The current window: absolute offsets, its extents ascending and covering
  // it exactly (an extent that runs on past it is cut at its edge).
  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }
  const std::vector<Extent>& extents() const { return extents_; }

  // The progress total: data bytes of the windows mapped so far plus the
  // bytes not mapped yet, as if all data. Starts at most the range length,
  // only shrinks, and is the range's data bytes once all of it is mapped.
  uint64_t data_bound() const { return data_mapped_ + unmapped_; }

 private:
  Status map(uint64_t start, uint64_t end);
  void snap_to_grid();

  const Source* src_ = nullptr;
  uint64_t offset_ = 0, length_ = 0;
  SparseMode sparse_ = SparseMode::Auto;
  Walk walk_ = Walk::Up;
  Grid grid_;
  uint64_t start_ = 0, end_ = 0;
  uint64_t data_mapped_ = 0, unmapped_ = 0;
  std::vector<Extent> extents_;
};

}  // namespace blockcopy
