// The public extents() query: the data/hole map of part of a file or device.
#pragma once

#include <optional>
#include <vector>

#include "extent_map.h"
#include "request.h"

namespace blockcopy {

Status extents_of(const Target& target, uint64_t offset, std::optional<uint64_t> length,
                  std::vector<Extent>* out);

}  // namespace blockcopy
