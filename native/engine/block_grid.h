// An NBD server with a minimum block size refuses requests off its grid, and
// qemu's compress filter can write each 64 KiB cluster only once, whole. So a
// copy into such a server cuts its work on the destination's grid: a hole
// stays a hole only over whole blocks; what a hole leaves of a block that also
// holds data is copied as data (it reads as zeros). Every block the copy
// touches is then written whole, by one request, once.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "extent_map.h"

namespace blockcopy {

class GridSnapper {
 public:
  // `grid`: the destination's block size (1: no grid). Source offset p lands on
  // the grid when (p + phase) % grid == 0 (phase: the destination's offset
  // less the source's, modulo the grid).
  GridSnapper(uint64_t grid, uint64_t phase) : grid_(grid), phase_(phase % grid) {}

  // The next extent of the range, ascending and contiguous; what is certain
  // goes to *out. A hole is held back until what follows it is known.
  void add(const Extent& e, std::vector<Extent>* out);
  // The range is done: what was held back goes out.
  void finish(std::vector<Extent>* out);

 private:
  uint64_t up(uint64_t p) const;    // the first grid point at or after p
  uint64_t down(uint64_t p) const;  // the last grid point at or before p
  void release_hole(uint64_t data_from, std::vector<Extent>* out);

  uint64_t grid_, phase_;
  std::optional<Extent> held_;  // a hole that starts on the grid, whose end may yet grow
};

}  // namespace blockcopy
