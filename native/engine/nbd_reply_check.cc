#include "nbd_reply_check.h"

#include <algorithm>
#include <iterator>

#include "nbd_protocol.h"

namespace blockcopy {

namespace {
// Even 512-byte pieces of a 32 MiB read sent in the worst order stay under this.
constexpr size_t kMostPieces = 1 << 16;

}  // namespace

bool ReadCoverage::add(uint64_t at, uint64_t length) {
  if (length == 0) return true;
  const uint64_t end = at + length;
  auto next = pieces_.lower_bound(at);
  if (next != pieces_.end() && next->first < end) return false;
  auto before = next == pieces_.begin() ? pieces_.end() : std::prev(next);
  if (before != pieces_.end() && before->second > at) return false;
  bytes_ += length;
  uint64_t start = at, stop = end;
  if (before != pieces_.end() && before->second == at) {
    start = before->first;
    pieces_.erase(before);
  }
  if (next != pieces_.end() && next->first == end) {
    stop = next->second;
    pieces_.erase(next);
  }
  pieces_.emplace(start, stop);
  return pieces_.size() <= kMostPieces;
}

void read_status_extents(const char* descriptors, uint32_t count, uint64_t offset, uint64_t length,
                         std::vector<Extent>* out, std::string* why) {
  why->clear();
  const uint64_t end = offset + length;
  uint64_t at = offset;
  for (uint32_t i = 0; i < count; i++) {
    const char* d = descriptors + 8 * static_cast<size_t>(i);
    const uint64_t n = nbd::get32(d);
    if (n == 0) {
      *why = "a block status extent of length 0";
      return;
    }
    if (at >= end) {
      *why = "block status extents after one that reached the end of the request";
      return;
    }
    const uint64_t kept = std::min(n, end - at);  // only the last may run past: clipped
    append_extent(out, at, kept, !(nbd::get32(d + 4) & nbd::kStateZero));
    at += kept;
  }
}

}  // namespace blockcopy
