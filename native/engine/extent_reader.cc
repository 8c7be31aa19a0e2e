#include "extent_reader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

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

Status ExtentReader::next(size_t max, std::vector<StreamItem>* out) {
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
      Status s = read_piece(at, n, out);
      if (!s.ok()) return s;
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

Status ExtentReader::read_piece(uint64_t at, uint64_t n, std::vector<StreamItem>* out) {
  auto* buf = static_cast<unsigned char*>(std::malloc(n ? n : 1));
  if (!buf) return Status::Sys(ENOMEM, "malloc", Side::None);
  Status s = source_.read(buf, n, at);
  const uint64_t rel = at - options_.offset;
  if (s.ok() && options_.sparse != SparseMode::Always) {
    sum_.update(rel, buf, n);
    out->push_back({true, rel, n, buf});
    return Status::Ok();
  }
  // Runs of zero blocks become holes, runs of data items of their own.
  if (s.ok()) split_zero_runs(buf, n, rel, kZeroBlock, &runs_);
  for (size_t i = 0; s.ok() && i < runs_.size(); i++) {
    const ZeroRun& run = runs_[i];
    if (run.zero)
      out->push_back({false, rel + run.offset, run.length, nullptr});
    else
      s = add_data(buf + run.offset, rel + run.offset, run.length, out);
  }
  std::free(buf);
  return s;
}

Status ExtentReader::add_data(const unsigned char* bytes, uint64_t rel, uint64_t n, std::vector<StreamItem>* out) {
  auto* copy = static_cast<unsigned char*>(std::malloc(n));
  if (!copy) return Status::Sys(ENOMEM, "malloc", Side::None);
  std::memcpy(copy, bytes, n);
  sum_.update(rel, copy, n);
  out->push_back({true, rel, n, copy});
  return Status::Ok();
}

}  // namespace blockcopy
