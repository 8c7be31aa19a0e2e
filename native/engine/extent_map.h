// Where the data is: the source range split into data and hole extents with
// SEEK_DATA/SEEK_HOLE. This is the only place that asks the filesystem.
#pragma once

#include <cstdint>
#include <vector>

#include "status.h"

namespace blockcopy {

struct Extent {
  uint64_t offset;  // absolute, in the file
  uint64_t length;
  bool data;
};

// Covers [offset, offset + length) exactly, in ascending order, with adjacent
// extents of the same kind merged. A filesystem without SEEK_DATA support
// yields one data extent for the whole range.
Status map_extents(int fd, uint64_t offset, uint64_t length, Side side, std::vector<Extent>* out);

uint64_t data_bytes(const std::vector<Extent>& extents);

// Appends [offset, offset + length) to *out, merged with its last extent when
// they touch and are of one kind; nothing for an empty one.
void append_extent(std::vector<Extent>* out, uint64_t offset, uint64_t length, bool data);

}  // namespace blockcopy
