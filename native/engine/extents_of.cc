#include "extents_of.h"

#include "file.h"
#include "range.h"

namespace blockcopy {

Status extents_of(const Target& target, uint64_t offset, std::optional<uint64_t> length,
                  std::vector<Extent>* out) {
  Fd fd;
  FileInfo info;
  Status s = open_source(target, &fd, &info);
  if (!s.ok()) return s;
  uint64_t resolved = 0;
  s = resolve_range(info.size, offset, length, "offset", &resolved);
  if (!s.ok()) return s;
  return map_extents(fd.get(), offset, resolved, Side::Source, out);
}

}  // namespace blockcopy
