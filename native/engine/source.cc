#include "source.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "pread_io.h"

namespace blockcopy {

// The export's size and block size stand in for the file's; an image file's
// inode stays in info_, to tell "the same file".
Status Source::open_nbd(const Target& target) {
  nbd_ = std::make_unique<NbdTarget>();
  Status s = nbd_->open(target, Side::Source, false, std::nullopt);
  if (!s.ok()) return s;
  nbd_->describe(&info_);
  return Status::Ok();
}

Status Source::open_file(const Target& target) {
  if (target.is_fd()) {
    fd_ = Fd(target.fd, false);
  } else {
    struct stat st;
    bool exists = false;
    Status s = refuse_special_path(target.path, Side::Source, &st, &exists);
    if (!s.ok()) return s;
    int raw = open_retrying(target.path.c_str(), O_RDONLY);
    if (raw < 0) return Status::Sys(errno, "open", Side::Source);
    fd_ = Fd(raw, true);
  }
  Status s = inspect(fd_.get(), Side::Source, &info_);
  if (!s.ok()) return s;
  return refuse_unsupported(info_, Side::Source, target.is_fd() ? "read" : "open");
}

// An image file is opened as a file first, so a missing or unreadable one is
// the same ENOENT or EACCES as a raw one; then qemu-nbd reads it for us.
Status Source::open(const Target& target) {
  if (target.nbd) return open_nbd(target);
  Status s = open_file(target);
  if (!s.ok()) return s;
  if (!target.format.empty()) {
    fd_.reset();
    return open_nbd(target);
  }
  if (info_.type == FileType::Regular) posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return Status::Ok();
}

Status Source::resolve(uint64_t offset, std::optional<uint64_t> length, const char* name, uint64_t* resolved) const {
  const std::string size_text = std::to_string(size()) + " bytes";
  if (offset > size())
    return Status::OutOfRange(std::string(name) + " (" + std::to_string(offset) +
                              ") is past the end of the source (" + size_text + ")");
  *resolved = length ? *length : size() - offset;
  if (*resolved > size() - offset)
    return Status::OutOfRange(std::string(name) + " + length (" + std::to_string(offset + *resolved) +
                              ") is past the end of the source (" + size_text + ")");
  return Status::Ok();
}

Status Source::extents(uint64_t offset, uint64_t length, SparseMode sparse, std::vector<Extent>* out) const {
  out->clear();
  if (sparse != SparseMode::Never && nbd_) return nbd_->nbd().extents(offset, length, out);
  if (sparse != SparseMode::Never) return map_extents(fd_.get(), offset, length, Side::Source, out);
  if (length) out->push_back({offset, length, true});
  return Status::Ok();
}

Status Source::read(unsigned char* buf, size_t length, uint64_t offset) const {
  if (nbd_) return nbd_->nbd().read_sync(offset, length, buf);
  size_t got = 0;
  Status s = read_fully(fd_.get(), buf, length, offset, &got);
  if (s.ok() && got < length) return ended_at(offset + got);
  return s;
}

// Every job that reads a Source (copy, send, checksum, verify) reaches this: the words fit them all.
Status Source::ended_at(uint64_t at) {
  return Status::Sys(EIO, "read", Side::Source,
                     "source ended at " + std::to_string(at) +
                         ", inside the range being read (did it shrink while being read?)");
}

Status extents_of(const Target& target, uint64_t offset, std::optional<uint64_t> length, std::vector<Extent>* out) {
  Source source;
  uint64_t resolved = 0;
  Status s = source.open(target);
  if (s.ok()) s = source.resolve(offset, length, "offset", &resolved);
  if (s.ok()) s = source.extents(offset, resolved, SparseMode::Auto, out);
  return s;
}

}  // namespace blockcopy
