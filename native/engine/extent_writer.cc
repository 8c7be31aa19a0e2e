#include "extent_writer.h"

#include <algorithm>
#include <string>

#include "block_scan.h"

namespace blockcopy {

Status ExtentWriter::open(const Target& target, const WriterOptions& options) {
  options_ = options;
  target_ = target;
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
    if (options_.verify) sum_by_window(at, static_cast<const unsigned char*>(v.iov_base), v.iov_len);
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
  Zeroing zeroing;
  s = dst_.zero(options_.range.offset + rel, length, &zeroing);
  zeroing_.add(zeroing);
  skipped_ += length - zeroing.bytes;
  return s;
}

// The checksum is a sum, so a window's share is the checksum of its bytes alone.
void ExtentWriter::sum_by_window(uint64_t rel, const unsigned char* data, size_t length) {
  while (length) {
    const uint64_t window = rel / kVerifyWindow;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, (window + 1) * kVerifyWindow - rel));
    ImageChecksum part;
    part.update(rel, data, n);
    if (window_sums_.size() <= window) window_sums_.resize(window + 1, 0);
    window_sums_[window] += part.value();
    rel += n;
    data += n;
    length -= n;
  }
}

void ExtentWriter::kept(const std::vector<KeptBlock>& blocks) {
  if (!options_.verify) return;
  for (const KeptBlock& k : blocks) {
    const uint64_t window = k.block * kDigestBlock / kVerifyWindow;
    if (window_sums_.size() <= window) window_sums_.resize(window + 1, 0);
    window_sums_[window] += k.sum;
  }
}

Status ExtentWriter::read_back() const {
  BlockScan scan;
  Status s = scan.open(target_, options_.range.offset, options_.range.length, "offset");
  if (s.ok() && through_page_cache(scan.source().info(), false))
    s = evict_range(scan.source().fd(), options_.range.offset, options_.range.length, Side::Destination);
  static_assert(kVerifyWindow % (kScanWindowBlocks * uint64_t{kDigestBlock}) == 0, "a scan window lies in one verify window");
  ScanWindow w;
  std::vector<uint64_t> read(window_sums_.size(), 0);
  while (s.ok() && (s = scan.next(&w)).ok() && w.length) {
    ImageChecksum part;
    for (size_t i = 0; i < w.blocks(); i++)
      if (!w.hole[i]) part.update(w.start + i * uint64_t{kDigestBlock}, w.block(i), w.block_length(i));
    const uint64_t window = w.start / kVerifyWindow;
    if (read.size() <= window) read.resize(window + 1, 0);
    read[window] += part.value();
  }
  if (!s.ok()) return s;
  for (size_t k = 0; k < std::max(read.size(), window_sums_.size()); k++) {
    const uint64_t wrote = k < window_sums_.size() ? window_sums_[k] : 0, got = k < read.size() ? read[k] : 0;
    if (wrote == got) continue;
    const uint64_t from = k * kVerifyWindow, to = std::min(options_.range.length, from + kVerifyWindow);
    return Status::Coded("ERR_BLOCKCOPY_VERIFY",
                         "verification failed: the image read back from the destination differs from what was written, "
                         "within bytes " + std::to_string(from) + " to " + std::to_string(to) + " of the image (destination offsets " +
                             std::to_string(options_.range.offset + from) + " to " + std::to_string(options_.range.offset + to) + ")");
  }
  return Status::Ok();
}

Status ExtentWriter::finish() {
  Status s = dst_.finish(options_.fsync);
  if (s.ok()) write_behind_->finished(options_.range.offset + options_.range.length);
  if (s.ok() && options_.verify) s = read_back();
  return s;
}

}  // namespace blockcopy
