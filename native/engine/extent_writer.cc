#include "extent_writer.h"

#include "fault_injection.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>


namespace blockcopy {

namespace {
std::string n(uint64_t v) { return std::to_string(v); }
}  // namespace

Status ExtentWriter::open(const Target& target, const WriterOptions& options) {
  options_ = options;
  DestinationOpen how;
  how.overwrite = options.overwrite;
  how.force = options.force;
  Status s = open_destination(target, how, &fd_, &info_, &created_);
  if (s.ok()) {
    const bool cuts = options.truncate && info_.type == FileType::Regular;
    const uint64_t* new_size = options.dst_size ? &*options.dst_size : nullptr;
    s = lock_.acquire(fd_.get(), spans_changed(options.offset, options.length, cuts, new_size));
    if (!s.ok()) created_.clear();  // another job is writing it: not ours to remove
  }
  if (s.ok()) s = check_fits();
  if (!s.ok()) {
    abandon();
    return s;
  }
  // Nothing is cut before the end, so any byte of an existing file may still be old data.
  old_data_end_ = options.target_is_zero || !created_.empty() ? 0 : info_.size;
  zeroer_.emplace(fd_.get(), info_.type);
  write_behind_.emplace(fd_.get(), options.fsync != SyncMode::None, options.offset);
  return Status::Ok();
}

// The same rules as a copy's destination (copy_plan.cc): a device must hold
// the image and cannot be resized; a file's new size must hold it.
Status ExtentWriter::check_fits() const {
  const uint64_t end = options_.offset + options_.length;
  if (info_.type == FileType::BlockDevice) {
    if (options_.dst_size) return Status::Sys(EINVAL, "ftruncate", Side::Destination, "dstSize cannot resize a block device");
    if (end > info_.size)
      return Status::Sys(ENOSPC, "write", Side::Destination,
                         "image ends at " + n(end) + ", past the end of the device (" + n(info_.size) + " bytes)");
    return Status::Ok();
  }
  if (info_.type != FileType::Regular)
    return Status::Sys(EINVAL, "open", Side::Destination, "not a regular file or block device");
  if (options_.dst_size && end > *options_.dst_size)
    return Status::OutOfRange("offset + image size (" + n(end) + ") is past dstSize (" + n(*options_.dst_size) + ")");
  return Status::Ok();
}

// Before the first piece lands: no write then extends the file, so XFS keeps
// no preallocation inside it (as for a copy, copy_plan.cc).
Status ExtentWriter::grow_to_image() {
  if (grown_ || info_.type != FileType::Regular) return Status::Ok();
  grown_ = true;
  return size_file_to(fd_.get(), options_.offset + options_.length, false);
}

Status ExtentWriter::check_inside(uint64_t rel, uint64_t length, const char* what) const {
  if (rel > options_.length || length > options_.length - rel)
    return Status::OutOfRange(std::string(what) + " at " + n(rel) + " of " + n(length) +
                              " bytes reaches past the end of the image (" + n(options_.length) + " bytes)");
  return Status::Ok();
}

Status ExtentWriter::write_gathered(uint64_t rel, std::vector<iovec> pieces) {
  uint64_t total = 0;
  for (const iovec& v : pieces) total += v.iov_len;
  Status s = check_inside(rel, total, "data");
  if (s.ok()) s = grow_to_image();
  if (!s.ok()) return s;
  uint64_t at = rel;
  for (const iovec& v : pieces) {
    sum_.update(at, static_cast<const unsigned char*>(v.iov_base), v.iov_len);
    at += v.iov_len;
  }
  // Short writes continue where they stopped; at most IOV_MAX pieces per call.
  size_t first = 0;
  uint64_t done = 0;
  while (first < pieces.size()) {
    const int count = static_cast<int>(std::min<size_t>(pieces.size() - first, IOV_MAX));
    if (fault_at(FaultOp::Write, options_.offset + rel + done, total - done)) return Status::Sys(EIO, "write", Side::Destination);
    const ssize_t n = pwritev(fd_.get(), pieces.data() + first, count, static_cast<off_t>(options_.offset + rel + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Sys(errno, "write", Side::Destination);
    }
    if (n == 0) return Status::Sys(ENOSPC, "write", Side::Destination);
    done += static_cast<uint64_t>(n);
    written_ += static_cast<uint64_t>(n);
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      iovec& v = pieces[first];
      if (left >= v.iov_len) {
        left -= v.iov_len;
        first++;
      } else {
        v.iov_base = static_cast<unsigned char*>(v.iov_base) + left;
        v.iov_len -= left;
        left = 0;
      }
    }
    while (first < pieces.size() && pieces[first].iov_len == 0) first++;
  }
  // Pieces arrive in order, so everything below here is written.
  write_behind_->reached(options_.offset + rel + total);
  return Status::Ok();
}

Status ExtentWriter::hole(uint64_t rel, uint64_t length) {
  Status s = check_inside(rel, length, "hole");
  if (s.ok()) s = grow_to_image();
  if (!s.ok()) return s;
  const uint64_t at = options_.offset + rel;
  if (at >= old_data_end_) {
    skipped_ += length;
    return Status::Ok();
  }
  const uint64_t zeroed = std::min(length, old_data_end_ - at);
  uint64_t zeros_written = 0;
  s = zeroer_->zero(at, zeroed, &zeros_written);
  written_ += zeros_written;
  skipped_ += length - zeros_written;
  return s;
}

Status ExtentWriter::finish() {
  if (info_.type == FileType::Regular) {
    // The image is in: now the size. dstSize, or cut to the image's end, or
    // grown to it so a trailing hole is there too.
    const uint64_t end = options_.offset + options_.length;
    Status s = options_.dst_size ? set_file_size(fd_.get(), *options_.dst_size)
                                 : size_file_to(fd_.get(), end, options_.truncate);
    if (!s.ok()) return s;
  }
  Status s = flush_file(fd_.get(), options_.fsync);
  // Done with the file: another job may have it as soon as this one settles.
  if (s.ok()) lock_.release();
  return s;
}

void ExtentWriter::abandon() {
  if (created_.empty()) return;
  lock_.release();
  fd_.reset();
  unlink(created_.c_str());
  created_.clear();
}

}  // namespace blockcopy
