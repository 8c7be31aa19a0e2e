#include "extent_reader.h"

#include <algorithm>
#include <cerrno>

namespace blockcopy {

namespace {
// Zero detection looks at blocks this big, on the image's own grid.
constexpr uint64_t kZeroBlock = 4096;
}  // namespace

Status ExtentReader::open(const Target& target, const ReaderOptions& options) {
  options_ = options;
  Status s = source_.open(target);
  if (s.ok()) s = source_.resolve(options.offset, options.length, "offset", &length_);
  if (s.ok()) s = map_.open(source_, options.offset, length_, options.sparse);
  if (!s.ok()) return s;
  read_behind_.emplace(source_.fd(), through_page_cache(source_.info(), false), options.offset, options.offset + length_,
                       source_.info().size, options.piece);
  return Status::Ok();
}

Status ExtentReader::resume_from(std::vector<Digest> theirs) {
  if (index_ != 0 || within_ != 0 || map_.start() != options_.offset)
    return Status::Invalid("resume_from() after the first read");
  theirs_ = std::move(theirs);
  round_to_blocks();
  return Status::Ok();
}

// Data extents grow to whole blocks (hole bytes read as zeros), so each
// block a receiver might hold is read and hashed whole. A window holds whole
// blocks, so each window's are grown within it.
static_assert(kExtentWindow % kDigestBlock == 0);
void ExtentReader::round_to_blocks() {
  std::vector<Extent> data;
  const uint64_t base = options_.offset, end = map_.end();
  for (const Extent& e : map_.extents()) {
    if (!e.data) continue;
    const uint64_t from = base + (e.offset - base) / kDigestBlock * kDigestBlock;
    const uint64_t to = std::min(end, base + (e.offset + e.length - base + kDigestBlock - 1) / kDigestBlock * kDigestBlock);
    if (!data.empty() && from <= data.back().offset + data.back().length) {
      data.back().length = to - data.back().offset;
    } else {
      data.push_back({from, to - from, true});
    }
  }
  rounded_.clear();
  uint64_t at = map_.start();
  for (const Extent& d : data) {
    if (d.offset > at) rounded_.push_back({at, d.offset - at, false});
    rounded_.push_back(d);
    at = d.offset + d.length;
  }
  if (at < end) rounded_.push_back({at, end - at, false});
}

Status ExtentReader::next_window() {
  bool more = false;
  Status s = map_.advance(&more);
  if (!s.ok()) return s;
  index_ = 0;
  within_ = 0;
  at_end_ = !more;
  if (more && theirs_) round_to_blocks();
  return Status::Ok();
}

Status ExtentReader::make_room(size_t max) {
  const size_t need = max * options_.piece;
  if (batch_ && batch_->size() >= need) return Status::Ok();
  batch_ = std::make_unique<AlignedBuffer>(need);
  if (!batch_->ok()) {
    batch_.reset();
    return Status::Sys(ENOMEM, "malloc", Side::None);
  }
  return Status::Ok();
}

Status ExtentReader::next(size_t max, std::vector<StreamItem>* out) {
  Status room = make_room(max);
  if (!room.ok()) return room;
  // Each data piece takes the next `piece` bytes of the batch; holes take none.
  unsigned char* free_space = batch_->data();
  while (out->size() < max && !at_end_) {
    if (index_ == window().size()) {
      Status s = next_window();
      if (!s.ok()) return s;
      continue;
    }
    const Extent& extent = window()[index_];
    const uint64_t at = extent.offset + within_;
    const uint64_t left = extent.length - within_;
    if (!extent.data) {
      out->push_back({false, false, at - options_.offset, left, nullptr});
      within_ += left;
    } else {
      // Pieces end on the piece grid of the image, so a reader and a writer agree on them.
      const uint64_t rel = at - options_.offset;
      const uint64_t n = std::min(left, options_.piece - rel % options_.piece);
      Status s = read_piece(at, n, free_space, out);
      if (!s.ok()) return s;
      free_space += n;
      within_ += n;
    }
    read_behind_->reached(extent.offset + within_);
    if (within_ == extent.length) {
      index_++;
      within_ = 0;
    }
  }
  if (at_end_) read_behind_->finished();
  return Status::Ok();
}

Status ExtentReader::read_piece(uint64_t at, uint64_t n, unsigned char* buf, std::vector<StreamItem>* out) {
  Status s = source_.read(buf, n, at);
  if (!s.ok()) return s;
  const uint64_t rel = at - options_.offset;
  if (theirs_) {
    sum_.update(rel, buf, n);
    split_same_blocks(rel, n, buf, out);
    return Status::Ok();
  }
  if (options_.sparse != SparseMode::Always) {
    sum_.update(rel, buf, n);
    out->push_back({true, false, rel, n, buf});
    return Status::Ok();
  }
  // Runs of zero blocks become holes, runs of data items of their own (views into buf).
  split_zero_runs(buf, n, rel, kZeroBlock, &runs_);
  for (const ZeroRun& run : runs_) {
    if (!run.zero) sum_.update(rel + run.offset, buf + run.offset, run.length);
    out->push_back({!run.zero, false, rel + run.offset, run.length, run.zero ? nullptr : buf + run.offset});
  }
  return Status::Ok();
}

// A piece of whole blocks (pieces and data extents lie on the block grid) as
// runs of blocks the receiver holds and runs it does not.
void ExtentReader::split_same_blocks(uint64_t rel, uint64_t n, const unsigned char* buf, std::vector<StreamItem>* out) const {
  const size_t first = out->size();  // runs merge within this piece only: a data item stays within a frame's limit
  for (uint64_t at = 0; at < n;) {
    const uint64_t len = std::min<uint64_t>(kDigestBlock, n - at);
    const uint64_t block = (rel + at) / kDigestBlock;
    const bool held = block < theirs_->size() && (*theirs_)[block] == block_digest(buf + at, len);
    StreamItem* last = out->size() > first ? &out->back() : nullptr;
    if (last && last->same == held) {
      last->length += len;
    } else {
      out->push_back({!held, held, rel + at, len, held ? nullptr : buf + at});
    }
    at += len;
  }
}

}  // namespace blockcopy
