#include "source.h"

#include <fcntl.h>

#include <cerrno>
#include <string>

#include "pread_io.h"

namespace blockcopy {

Status Source::open(const Target& target) {
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
  s = refuse_unsupported(info_, Side::Source, target.is_fd() ? "read" : "open");
  if (!s.ok()) return s;
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
  if (sparse != SparseMode::Never) return map_extents(fd_.get(), offset, length, Side::Source, out);
  if (length) out->push_back({offset, length, true});
  return Status::Ok();
}

Status Source::read(unsigned char* buf, size_t length, uint64_t offset) const {
  size_t got = 0;
  Status s = read_fully(fd_.get(), buf, length, offset, &got);
  if (s.ok() && got < length) return ended_at(offset + got);
  return s;
}

Status Source::ended_at(uint64_t at) {
  return Status::Sys(EIO, "read", Side::Source,
                     "source ended at " + std::to_string(at) +
                         ", inside the range being read (did it shrink during the copy?)");
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
