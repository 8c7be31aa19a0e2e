#include "extent_reader.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pread_io.h"
#include "range.h"
#include "zero_detect.h"

namespace blockcopy {

namespace {
// Zero detection looks at blocks this big, on the image's own grid.
constexpr uint64_t kZeroBlock = 4096;
}  // namespace

Status ExtentReader::open(const Target& target, const ReaderOptions& options) {
  options_ = options;
  Status s = open_source(target, &fd_, &info_);
  if (!s.ok()) return s;
  s = resolve_range(info_.size, options.offset, options.length, "offset", &length_);
  if (!s.ok()) return s;
  if (options.sparse == SparseMode::Never) {
    if (length_) extents_.push_back({options.offset, length_, true});
  } else {
    s = map_extents(fd_.get(), options.offset, length_, Side::Source, &extents_);
    if (!s.ok()) return s;
  }
  data_bytes_ = blockcopy::data_bytes(extents_);
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
    if (within_ == extent.length) {
      index_++;
      within_ = 0;
    }
  }
  return Status::Ok();
}

Status ExtentReader::read_piece(uint64_t at, uint64_t n, std::vector<StreamItem>* out) {
  auto* buf = static_cast<unsigned char*>(std::malloc(n ? n : 1));
  if (!buf) return Status::Sys(ENOMEM, "malloc", Side::None);
  size_t got = 0;
  Status s = read_fully(fd_.get(), buf, n, at, &got);
  if (s.ok() && got < n)
    s = Status::Sys(EIO, "read", Side::Source,
                    "source ended at " + std::to_string(at + got) + ", inside the image (did it shrink?)");
  if (!s.ok()) {
    std::free(buf);
    return s;
  }
  const uint64_t rel = at - options_.offset;
  if (options_.sparse == SparseMode::Always) {
    s = split_zeros(buf, rel, n, out);
    std::free(buf);
    return s;
  } else {
    sum_.update(rel, buf, n);
    out->push_back({true, rel, n, buf});
  }
  return Status::Ok();
}

// Runs of zero blocks become holes, runs of data become their own buffers.
Status ExtentReader::split_zeros(const unsigned char* buf, uint64_t rel, uint64_t n, std::vector<StreamItem>* out) {
  uint64_t i = 0;
  while (i < n) {
    const uint64_t first_end = std::min(n, (rel + i) / kZeroBlock * kZeroBlock + kZeroBlock - rel);
    const bool zero = is_all_zero(buf + i, first_end - i);
    uint64_t end = first_end;
    while (end < n) {
      const uint64_t next = std::min(n, end + kZeroBlock);
      if (is_all_zero(buf + end, next - end) != zero) break;
      end = next;
    }
    if (zero) {
      out->push_back({false, rel + i, end - i, nullptr});
    } else {
      auto* copy = static_cast<unsigned char*>(std::malloc(end - i));
      if (!copy) return Status::Sys(ENOMEM, "malloc", Side::None);
      std::memcpy(copy, buf + i, end - i);
      sum_.update(rel + i, copy, end - i);
      out->push_back({true, rel + i, end - i, copy});
    }
    i = end;
  }
  return Status::Ok();
}

}  // namespace blockcopy
