#include "extent_reader.h"

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
  if (s.ok()) s = source_.extents(options.offset, length_, options.sparse, &extents_);
  if (!s.ok()) return s;
  data_bytes_ = blockcopy::data_bytes(extents_);
  read_behind_.emplace(source_.fd(), through_page_cache(source_.info(), false), options.offset, options.offset + length_,
                       source_.info().size, options.piece);
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
  while (out->size() < max && index_ < extents_.size()) {
    const Extent& extent = extents_[index_];
    const uint64_t at = extent.offset + within_;
    const uint64_t left = extent.length - within_;
    if (!extent.data) {
      out->push_back({false, at - options_.offset, left, nullptr});
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
  if (index_ == extents_.size()) read_behind_->finished();
  return Status::Ok();
}

Status ExtentReader::read_piece(uint64_t at, uint64_t n, unsigned char* buf, std::vector<StreamItem>* out) {
  Status s = source_.read(buf, n, at);
  if (!s.ok()) return s;
  const uint64_t rel = at - options_.offset;
  if (options_.sparse != SparseMode::Always) {
    sum_.update(rel, buf, n);
    out->push_back({true, rel, n, buf});
    return Status::Ok();
  }
  // Runs of zero blocks become holes, runs of data items of their own (views into buf).
  split_zero_runs(buf, n, rel, kZeroBlock, &runs_);
  for (const ZeroRun& run : runs_) {
    if (!run.zero) sum_.update(rel + run.offset, buf + run.offset, run.length);
    out->push_back({!run.zero, rel + run.offset, run.length, run.zero ? nullptr : buf + run.offset});
  }
  return Status::Ok();
}

}  // namespace blockcopy
