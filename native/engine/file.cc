#include "file.h"

#include <fcntl.h>
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
  return a.ino != 0 && a.dev == b.dev && a.ino == b.ino;  // an NBD URI has no inode
}

Status refuse_unsupported(const FileInfo& info, Side side, const char* syscall) {
  if (S_ISDIR(info.mode)) return Status::Sys(EISDIR, syscall, side);
  if (info.type == FileType::Other)
    return Status::Sys(EINVAL, syscall, side, "not a regular file or block device");
  return Status::Ok();
}

int open_retrying(const char* path, int flags, mode_t mode) {
  int fd;
  do fd = open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

Status refuse_special_path(const std::string& path, Side side, struct stat* st, bool* exists) {
  *exists = stat(path.c_str(), st) == 0;
  if (!*exists || S_ISREG(st->st_mode) || S_ISBLK(st->st_mode) || S_ISDIR(st->st_mode)) return Status::Ok();
  return Status::Sys(EINVAL, "open", side, "not a regular file or block device");
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

}  // namespace blockcopy
