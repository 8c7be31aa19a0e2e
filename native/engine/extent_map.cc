#include "extent_map.h"

#include <unistd.h>

#include <cerrno>

#include "not_supported.h"

namespace blockcopy {

void append_extent(std::vector<Extent>* out, uint64_t offset, uint64_t length, bool data) {
  if (length == 0) return;
  if (!out->empty()) {
    Extent& last = out->back();
    if (last.data == data && last.offset + last.length == offset) {
      last.length += length;
      return;
    }
  }
  out->push_back({offset, length, data});
}

Status map_extents(int fd, uint64_t offset, uint64_t length, Side side, std::vector<Extent>* out) {
  out->clear();
  const uint64_t end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {  // no data at or after pos: the rest is a hole
        append_extent(out, pos, end - pos, false);
        return Status::Ok();
      }
      // A filesystem that does not know SEEK_DATA: everything is data, which is always correct.
      if (not_supported_here(errno)) {
        out->clear();
        append_extent(out, offset, length, true);
        return Status::Ok();
      }
      return Status::Sys(errno, "lseek", side);
    }
    uint64_t data_start = static_cast<uint64_t>(data);
    if (data_start >= end) {
      append_extent(out, pos, end - pos, false);
      return Status::Ok();
    }
    append_extent(out, pos, data_start - pos, false);
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Status::Sys(errno, "lseek", side);
    uint64_t data_end = static_cast<uint64_t>(hole);
    if (data_end > end || data_end <= data_start) data_end = end;  // grew or raced: clamp
    append_extent(out, data_start, data_end - data_start, true);
    pos = data_end;
  }
  return Status::Ok();
}

uint64_t data_bytes(const std::vector<Extent>& extents) {
  uint64_t sum = 0;
  for (const Extent& e : extents)
    if (e.data) sum += e.length;
  return sum;
}

}  // namespace blockcopy
