#include "block_scan.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace blockcopy {

Status BlockScan::open(const Target& target, uint64_t offset, std::optional<uint64_t> length, const char* name, bool clamp) {
  Status s = source_.open(target);
  if (s.ok() && clamp) {
    offset = std::min(offset, source_.size());
    if (length) length = std::min(*length, source_.size() - offset);
  }
  offset_ = offset;
  if (s.ok()) s = source_.resolve(offset, length, name, &length_);
  if (s.ok()) s = map_.open(source_, offset, length_, SparseMode::Auto);
  if (!s.ok()) return s;
  read_behind_.emplace(source_.fd(), through_page_cache(source_.info(), false), offset, offset + length_,
                       source_.info().size, kScanWindowBlocks * uint64_t{kDigestBlock});
  return Status::Ok();
}

Status BlockScan::next(ScanWindow* w) {
  const uint64_t start = next_start_;
  const uint64_t end = std::min(length_, start + kScanWindowBlocks * uint64_t{kDigestBlock});
  w->start = start;
  w->length = end - start;
  w->data_bytes = 0;
  w->hole.assign((w->length + kDigestBlock - 1) / kDigestBlock, 1);
  if (!w->length) {
    read_behind_->finished();
    return Status::Ok();
  }
  if (!w->buf) {
    w->buf = std::make_unique<AlignedBuffer>(kScanWindowBlocks * size_t{kDigestBlock});
    if (!w->buf->ok()) {
      w->buf.reset();
      return Status::Sys(ENOMEM, "malloc", Side::None);
    }
  }
  Status s = read_window(w, start, end);
  if (!s.ok()) return s;
  next_start_ = end;
  read_behind_->reached(offset_ + end);
  return Status::Ok();
}

// Data extents are read into place; the hole parts of blocks that also hold
// data are zeroed, so every block not marked hole holds its exact bytes.
Status BlockScan::read_window(ScanWindow* w, uint64_t start, uint64_t end) {
  if (offset_ + start >= map_.end()) {  // the scan leaves the map's window for the next (never straddles two)
    bool more = false;
    Status s = map_.advance(&more);
    if (!s.ok()) return s;
    index_ = 0;
  }
  const std::vector<Extent>& extents = map_.extents();
  while (index_ < extents.size() && extents[index_].offset + extents[index_].length <= offset_ + start) index_++;
  for (size_t i = index_; i < extents.size() && extents[i].offset < offset_ + end; i++) {
    const Extent& e = extents[i];
    if (!e.data) continue;
    const uint64_t from = std::max(e.offset - offset_, start), to = std::min(e.offset + e.length - offset_, end);
    Status s = source_.read(w->buf->data() + (from - start), to - from, offset_ + from);
    if (!s.ok()) return s;
    w->data_bytes += to - from;
    for (uint64_t b = (from - start) / kDigestBlock; b <= (to - 1 - start) / kDigestBlock; b++) w->hole[b] = 0;
  }
  for (size_t i = index_; i < extents.size() && extents[i].offset < offset_ + end; i++) {
    const Extent& e = extents[i];
    if (e.data) continue;
    const uint64_t from = std::max(e.offset - offset_, start), to = std::min(e.offset + e.length - offset_, end);
    // Only the ends of a hole can share a block with data.
    const uint64_t first = (from - start) / kDigestBlock, last = (to - 1 - start) / kDigestBlock;
    for (uint64_t b : {first, last}) {
      if (w->hole[b]) continue;
      const uint64_t lo = std::max(from - start, b * kDigestBlock);
      const uint64_t hi = std::min(to - start, (b + 1) * kDigestBlock);
      std::memset(w->buf->data() + lo, 0, hi - lo);
    }
  }
  return Status::Ok();
}

}  // namespace blockcopy
