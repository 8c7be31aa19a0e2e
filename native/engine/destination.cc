#include "destination.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "pread_io.h"

namespace blockcopy {

namespace {

std::string n(uint64_t v) { return std::to_string(v); }

Status set_file_size(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return Status::Sys(errno, "ftruncate", Side::Destination);
  return Status::Ok();
}

// Grows a regular file to `end` (a trailing hole), or cuts it there when `cut`.
Status size_file_to(int fd, uint64_t end, bool cut) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::Sys(errno, "fstat", Side::Destination);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == end || (size > end && !cut)) return Status::Ok();
  return set_file_size(fd, end);
}

Status flush_file(int fd, SyncMode mode) {
  if (mode == SyncMode::None) return Status::Ok();
  const bool data_only = mode == SyncMode::Data;
  if ((data_only ? fdatasync(fd) : fsync(fd)) != 0)
    return Status::Sys(errno, data_only ? "fdatasync" : "fsync", Side::Destination);
  return Status::Ok();
}

// Block devices in use (mounted, or open with O_EXCL elsewhere) are refused
// with EBUSY unless forced: O_EXCL without O_CREAT means exactly that on Linux.
Status preflight_destination(const std::string& path, bool force, int* extra_flags) {
  struct stat st;
  bool exists = false;
  Status s = refuse_special_path(path, Side::Destination, &st, &exists);
  *extra_flags = (s.ok() && exists && S_ISBLK(st.st_mode) && !force) ? O_EXCL : 0;
  return s;
}

// Where a dangling symlink points, relative to the folder it lies in; empty
// when `path` is not a symlink.
std::string link_target(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return {};
  std::string target(buf, static_cast<size_t>(n));
  if (target[0] == '/') return target;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? target : path.substr(0, slash + 1) + target;
}

Status open_path(const std::string& path, const DestinationOpen& how, Fd* fd,
                                    std::string* created_path) {
  const int base = O_WRONLY;
  if (!how.overwrite) {
    int raw = open_retrying(path.c_str(), base | O_CREAT | O_EXCL, how.create_mode);
    if (raw < 0) return Status::Sys(errno, "open", Side::Destination);
    *fd = Fd(raw, true);
    *created_path = path;
    return Status::Ok();
  }
  int extra = 0;
  Status s = preflight_destination(path, how.force, &extra);
  if (!s.ok()) return s;
  // Open without O_CREAT first, so we know whether the file is ours to remove on failure.
  std::string name = path;
  for (int attempt = 0; attempt < 40; attempt++) {
    int raw = open_retrying(name.c_str(), base | extra);
    if (raw >= 0) {
      *fd = Fd(raw, true);
      return Status::Ok();
    }
    if (errno != ENOENT) return Status::Sys(errno, "open", Side::Destination);
    raw = open_retrying(name.c_str(), base | O_CREAT | O_EXCL, how.create_mode);
    if (raw >= 0) {
      *fd = Fd(raw, true);
      *created_path = name;
      return Status::Ok();
    }
    if (errno != EEXIST) return Status::Sys(errno, "open", Side::Destination);
    // O_EXCL never follows a symlink: a dangling one names the file to create.
    // Otherwise someone created it between our two opens: go round and open theirs.
    const std::string target = link_target(name);
    if (!target.empty()) name = target;
  }
  return Status::Sys(ELOOP, "open", Side::Destination);
}

}  // namespace

// A URI connects now. An image file is opened (or created) as a file now, so
// EEXIST, ENOENT and "ours to remove" work as for a raw one; qemu-nbd serves
// it once claim() knows how big a new image must be.
Status Destination::open_nbd(const Target& target, const DestinationOpen& how) {
  target_ = target;
  if (target.nbd) {
    if (!how.overwrite) return Status::Sys(EEXIST, "open", Side::Destination, "an NBD export always exists");
    nbd_ = std::make_unique<NbdTarget>();
    Status s = nbd_->open(target, Side::Destination, true, std::nullopt);
    nbd_->describe(&info_);
    return s;
  }
  Status s = open_path(target.path, how, &fd_, &created_);
  if (s.ok()) s = inspect(fd_.get(), Side::Destination, &info_);
  if (s.ok()) s = refuse_unsupported(info_, Side::Destination, "open");
  return s;
}

// A new image, or one the job replaces whole (truncate), is made by qemu-img
// at the size the job needs; then qemu-nbd serves it.
Status Destination::serve_image() {
  std::optional<uint64_t> create_size;
  if (info_.type == FileType::Regular && (created() || range_.truncate)) create_size = range_.new_size.value_or(end());
  nbd_ = std::make_unique<NbdTarget>();
  Status s = nbd_->open(target_, Side::Destination, true, create_size);
  fresh_ = create_size.has_value();
  nbd_->describe(&info_);
  return s;
}

Status Destination::open(const Target& target, const DestinationOpen& how) {
  created_.clear();
  if (target.over_nbd()) return open_nbd(target, how);
  if (target.is_fd()) {
    fd_ = Fd(target.fd, false);
  } else {
    Status s = open_path(target.path, how, &fd_, &created_);
    if (!s.ok()) return s;
  }
  Status s = inspect(fd_.get(), Side::Destination, &info_);
  if (!s.ok()) return s;
  return refuse_unsupported(info_, Side::Destination, target.is_fd() ? "write" : "open");
}

Status Destination::claim(const DestinationRange& range) {
  range_ = range;
  // Over NBD the server owns locking (qemu-nbd locks its image; our byte
  // locks would collide with qemu's own); claims.ts still refuses a second job.
  if (target_.over_nbd()) {
    Status s = nbd_ ? Status::Ok() : serve_image();
    return s.ok() ? check_fits() : s;
  }
  const bool cuts = range.truncate && info_.type == FileType::Regular;
  const uint64_t* new_size = range.new_size ? &*range.new_size : nullptr;
  Status s = lock_.acquire(fd_.get(), spans_changed(range.offset, range.length, cuts, new_size));
  // Another job is writing the file, even one we created a moment ago: it is not ours to remove.
  if (!s.ok()) created_.clear();
  if (s.ok()) s = check_fits();
  return s;
}

// A device must hold the range and cannot be resized; a file's new size must hold it.
Status Destination::check_fits() const {
  if (fixed_size()) {
    const char* what = info_.type == FileType::Nbd ? "the NBD export" : "the device";
    if (range_.new_size && !(fresh_ && *range_.new_size == info_.size))
      return Status::Sys(EINVAL, "ftruncate", Side::Destination, std::string("dstSize cannot resize ") + what);
    if (end() > info_.size)
      return Status::Sys(ENOSPC, "write", Side::Destination,
                         "the range ends at " + n(end()) + ", past the end of " + what + " (" + n(info_.size) + " bytes)");
    return Status::Ok();
  }
  if (range_.new_size && end() > *range_.new_size)
    return Status::OutOfRange("the range ends at " + n(end()) + ", past dstSize (" + n(*range_.new_size) + ")");
  return Status::Ok();
}

Status Destination::prepare(Resize when, bool holds_source) {
  resize_ = when;
  if (fixed_size()) {
    if (!nbd_) zeroer_.emplace(fd_.get(), info_.type);
    old_data_end_ = range_.target_is_zero || fresh_ ? 0 : info_.size;
    return Status::Ok();
  }
  zeroer_.emplace(fd_.get(), info_.type);
  uint64_t old_end = created() ? 0 : info_.size;
  if (when == Resize::First) {
    if (range_.new_size) {
      Status s = set_file_size(fd_.get(), *range_.new_size);
      if (!s.ok()) return s;
      old_end = std::min(old_end, *range_.new_size);
    }
    // Truncating drops old data in the range, so holes there need no zeroing.
    if (range_.truncate && !holds_source && !created()) {
      Status s = set_file_size(fd_.get(), range_.offset);
      if (!s.ok()) return s;
      old_end = std::min(old_end, range_.offset);
    }
    Status s = grow_before_writing();
    if (!s.ok()) return s;
  }
  old_data_end_ = range_.target_is_zero ? 0 : old_end;
  return Status::Ok();
}

// Before the first write the file is grown to the range's end, so no write
// extends it: XFS preallocates past the end of a growing file and keeps what
// a later write leaves inside it, allocating more than the data. Receivers
// grow it when their first piece lands, not before.
Status Destination::grow_before_writing() {
  if (grown_ || info_.type != FileType::Regular) return Status::Ok();
  grown_ = true;
  return size_file_to(fd_.get(), end(), false);
}

Status Destination::write_gathered(uint64_t at, std::vector<iovec> pieces, uint64_t* written) {
  *written = 0;
  if (nbd_) return nbd_->nbd().write_sync(at, std::move(pieces), written);
  Status s = grow_before_writing();
  if (!s.ok()) return s;
  return write_gathered_fully(fd_.get(), std::move(pieces), at, written);
}

Status Destination::zero(uint64_t at, uint64_t length, Zeroing* out) {
  Status s = grow_before_writing();
  if (!s.ok() || at >= old_data_end_) return s;
  const uint64_t over_old = std::min(length, old_data_end_ - at);
  if (!nbd_) return zeroer_->zero(at, over_old, out);
  return nbd_->nbd().zero_sync(at, over_old, out);
}

Status Destination::finish(SyncMode fsync) {
  if (nbd_) {
    Status s = fsync == SyncMode::None ? Status::Ok() : nbd_->nbd().flush_sync();
    Status closed = nbd_->finish();
    return s.ok() ? closed : s;
  }
  if (info_.type == FileType::Regular) {
    Status s = grow_before_writing();  // a range of nothing but holes wrote nothing
    // dstSize, or cut at the range's end, or grown to it so a trailing hole is there too.
    if (s.ok()) s = range_.new_size ? size_file_to(fd_.get(), *range_.new_size, true)
                                    : size_file_to(fd_.get(), end(), range_.truncate);
    if (!s.ok()) return s;
  }
  Status s = flush_file(fd_.get(), fsync);
  if (s.ok()) lock_.release();
  return s;
}

void Destination::stop_at(uint64_t at) {
  if (nbd_) nbd_->close();  // a qemu-nbd of ours writes out what it holds as it stops
  if (info_.type == FileType::Regular && fd_.valid()) size_file_to(fd_.get(), at, false);
}

Status Destination::stop_durably_at(uint64_t end) {
  Status s = Status::Ok();
  if (nbd_) s = nbd_->nbd().flush_sync();
  stop_at(end);
  if (!nbd_ && fd_.valid()) s = flush_file(fd_.get(), SyncMode::Data);
  return s;
}

void Destination::abandon() {
  if (!created()) return;
  nbd_.reset();  // qemu-nbd stopped before its file goes
  lock_.release();
  fd_.reset();
  unlink(created_.c_str());
  created_.clear();
}

}  // namespace blockcopy
