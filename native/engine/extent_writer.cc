#include "extent_writer.h"

#include <string>

namespace blockcopy {

Status ExtentWriter::open(const Target& target, const WriterOptions& options) {
  options_ = options;
  Status s = dst_.open(target, options.how);
  if (s.ok()) s = dst_.claim(options.range);
  if (s.ok()) s = dst_.prepare(Resize::AtEnd, false);
  if (!s.ok()) {
    dst_.abandon();
    return s;
  }
  write_behind_.emplace(dst_.fd(), options.fsync != SyncMode::None && through_page_cache(dst_.info(), false),
                        options.range.offset);
  return Status::Ok();
}

Status ExtentWriter::check_inside(uint64_t rel, uint64_t length, const char* what) const {
  if (rel > options_.range.length || length > options_.range.length - rel)
    return Status::OutOfRange(std::string(what) + " at " + std::to_string(rel) + " of " + std::to_string(length) +
                              " bytes reaches past the end of the image (" + std::to_string(options_.range.length) + " bytes)");
  return Status::Ok();
}

Status ExtentWriter::apply(const std::vector<ImagePiece>& pieces) {
  for (size_t i = 0; i < pieces.size();) {
    const ImagePiece& piece = pieces[i];
    if (!piece.data) {
      Status s = hole(piece.rel, piece.length);
      if (!s.ok()) return s;
      i++;
      continue;
    }
    std::vector<iovec> run;
    uint64_t end = piece.rel;
    for (; i < pieces.size() && pieces[i].data && pieces[i].rel == end; i++) {
      run.push_back({const_cast<unsigned char*>(pieces[i].bytes), static_cast<size_t>(pieces[i].length)});
      end += pieces[i].length;
    }
    Status s = write_run(piece.rel, std::move(run));
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status ExtentWriter::write_run(uint64_t rel, std::vector<iovec> run) {
  uint64_t total = 0;
  for (const iovec& v : run) total += v.iov_len;
  Status s = check_inside(rel, total, "data");
  if (!s.ok()) return s;
  uint64_t at = rel;
  for (const iovec& v : run) {
    sum_.update(at, static_cast<const unsigned char*>(v.iov_base), v.iov_len);
    at += v.iov_len;
  }
  uint64_t landed = 0;
  s = dst_.write_gathered(options_.range.offset + rel, std::move(run), &landed);
  written_ += landed;
  if (!s.ok()) return s;
  // Pieces arrive in order, so everything below here is written.
  return write_behind_->reached(options_.range.offset + rel + total);
}

Status ExtentWriter::hole(uint64_t rel, uint64_t length) {
  Status s = check_inside(rel, length, "hole");
  if (!s.ok()) return s;
  uint64_t zeros_written = 0;
  s = dst_.zero(options_.range.offset + rel, length, &zeros_written);
  written_ += zeros_written;
  skipped_ += length - zeros_written;
  return s;
}

Status ExtentWriter::finish() {
  Status s = dst_.finish(options_.fsync);
  if (s.ok()) write_behind_->finished(options_.range.offset + options_.range.length);
  return s;
}

}  // namespace blockcopy
