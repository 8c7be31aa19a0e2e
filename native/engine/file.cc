#include "file.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace blockcopy {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.fd_;
    owned_ = other.owned_;
    other.fd_ = -1;
    other.owned_ = false;
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0 && owned_) close(fd_);
  fd_ = -1;
  owned_ = false;
}

static Status device_size(int fd, Side side, uint64_t* size) {
  if (ioctl(fd, BLKGETSIZE64, size) != 0) return Status::Sys(errno, "ioctl", side);
  return Status::Ok();
}

Status inspect(int fd, Side side, FileInfo* info) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::Sys(errno, "fstat", side);
  info->dev = st.st_dev;
  info->ino = st.st_ino;
  info->rdev = st.st_rdev;
  info->mode = st.st_mode;
  info->block_size = static_cast<uint32_t>(st.st_blksize);
  if (S_ISREG(st.st_mode)) {
    info->type = FileType::Regular;
    info->size = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }
  if (S_ISBLK(st.st_mode)) {
    info->type = FileType::BlockDevice;
    return device_size(fd, side, &info->size);
  }
  info->type = FileType::Other;
  info->size = 0;
  return Status::Ok();
}

bool same_file(const FileInfo& a, const FileInfo& b) {
  if (a.type == FileType::BlockDevice && b.type == FileType::BlockDevice) return a.rdev == b.rdev;
  return a.dev == b.dev && a.ino == b.ino;
}

static Status refuse_unsupported(const FileInfo& info, Side side, const char* syscall) {
  if (S_ISDIR(info.mode)) return Status::Sys(EISDIR, syscall, side);
  if (info.type == FileType::Other)
    return Status::Sys(EINVAL, syscall, side, "not a regular file or block device");
  return Status::Ok();
}

static int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do fd = open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// Opening a FIFO would block until its other end opens, so paths are looked at
// first and anything but a regular file, block device or directory (which
// open() itself refuses for writing) is turned away before it is opened.
static Status refuse_special_path(const std::string& path, Side side, struct stat* st, bool* exists) {
  *exists = stat(path.c_str(), st) == 0;
  if (!*exists || S_ISREG(st->st_mode) || S_ISBLK(st->st_mode) || S_ISDIR(st->st_mode)) return Status::Ok();
  return Status::Sys(EINVAL, "open", side, "not a regular file or block device");
}

Status open_source(const Target& target, Fd* fd, FileInfo* info) {
  if (target.is_fd()) {
    *fd = Fd(target.fd, false);
  } else {
    struct stat st;
    bool exists = false;
    Status s = refuse_special_path(target.path, Side::Source, &st, &exists);
    if (!s.ok()) return s;
    int raw = open_retrying(target.path.c_str(), O_RDONLY);
    if (raw < 0) return Status::Sys(errno, "open", Side::Source);
    *fd = Fd(raw, true);
  }
  Status s = inspect(fd->get(), Side::Source, info);
  if (!s.ok()) return s;
  s = refuse_unsupported(*info, Side::Source, target.is_fd() ? "read" : "open");
  if (!s.ok()) return s;
  if (info->type == FileType::Regular) posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return Status::Ok();
}

// Block devices in use (mounted, or open with O_EXCL elsewhere) are refused
// with EBUSY unless forced: O_EXCL without O_CREAT means exactly that on Linux.
static Status preflight_destination(const std::string& path, bool force, int* extra_flags) {
  struct stat st;
  bool exists = false;
  Status s = refuse_special_path(path, Side::Destination, &st, &exists);
  *extra_flags = (s.ok() && exists && S_ISBLK(st.st_mode) && !force) ? O_EXCL : 0;
  return s;
}

// Where a dangling symlink points, relative to the folder it lies in; empty
// when `path` is not a symlink.
static std::string link_target(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return {};
  std::string target(buf, static_cast<size_t>(n));
  if (target[0] == '/') return target;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? target : path.substr(0, slash + 1) + target;
}

static Status open_destination_path(const std::string& path, const DestinationOpen& how, Fd* fd,
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

Status open_destination(const Target& target, const DestinationOpen& how, Fd* fd,
                        FileInfo* info, std::string* created_path) {
  created_path->clear();
  if (target.is_fd()) {
    *fd = Fd(target.fd, false);
  } else {
    Status s = open_destination_path(target.path, how, fd, created_path);
    if (!s.ok()) return s;
  }
  Status s = inspect(fd->get(), Side::Destination, info);
  if (!s.ok()) return s;
  return refuse_unsupported(*info, Side::Destination, target.is_fd() ? "write" : "open");
}

Status reopen_direct(int fd, int access, Side side, Fd* out) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  int raw = open_retrying(path.c_str(), access | O_DIRECT);
  if (raw < 0) {
    if (errno == EINVAL) return Status::Sys(EINVAL, "open", side, "direct I/O is not supported here");
    return Status::Sys(errno, "open", side);
  }
  *out = Fd(raw, true);
  return Status::Ok();
}

uint32_t direct_alignment(int fd, const FileInfo& info) {
  int logical = 0;
  if (info.type == FileType::BlockDevice && ioctl(fd, BLKSSZGET, &logical) == 0 && logical > 0)
    return static_cast<uint32_t>(logical);
  return info.block_size ? info.block_size : 4096;
}

Status set_file_size(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return Status::Sys(errno, "ftruncate", Side::Destination);
  return Status::Ok();
}

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

}  // namespace blockcopy
