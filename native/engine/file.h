// What the two ends of a copy share: descriptors that close themselves when
// the engine opened them, what a descriptor is (file, device, size), and the
// checks made before opening a path.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "status.h"

namespace blockcopy {

// Owns the descriptor only when the engine opened it; caller fds stay open.
class Fd {
 public:
  Fd() = default;
  Fd(int fd, bool owned) : fd_(fd), owned_(owned) {}
  Fd(Fd&& other) noexcept { *this = std::move(other); }
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
  bool owned_ = false;
};

// Nbd: an NBD export, or an image file served by qemu-nbd for the job; for an
// image file, dev and ino are the file's.
enum class FileType { Regular, BlockDevice, Nbd, Other };

struct FileInfo {
  FileType type = FileType::Other;
  uint64_t size = 0;        // bytes; BLKGETSIZE64 for devices, never st_size
  uint32_t block_size = 0;  // st_blksize (preferred I/O and allocation unit)
  dev_t dev = 0;
  ino_t ino = 0;
  dev_t rdev = 0;
  mode_t mode = 0;
};

Status inspect(int fd, Side side, FileInfo* info);
// One file or device under any names: dev and inode (rdev for devices). The
// only place the engine decides "the same file".
bool same_file(const FileInfo& a, const FileInfo& b);

// open() with O_CLOEXEC, retried on EINTR.
int open_retrying(const char* path, int flags, mode_t mode = 0);
// Opening a FIFO would block until its other end opens, so paths are looked at
// first and anything but a regular file, block device or directory (which
// open() itself refuses for writing) is turned away before it is opened.
Status refuse_special_path(const std::string& path, Side side, struct stat* st, bool* exists);
// A descriptor that is neither a regular file nor a block device.
Status refuse_unsupported(const FileInfo& info, Side side, const char* syscall);

// Opens the same file again with O_DIRECT (via /proc/self/fd/N). EINVAL from a
// filesystem without direct I/O (tmpfs) is reported as such.
Status reopen_direct(int fd, int access, Side side, Fd* out);

// The alignment O_DIRECT needs for offsets, lengths and buffers: the device's
// logical block size (BLKSSZGET), or st_blksize for files.
uint32_t direct_alignment(int fd, const FileInfo& info);

}  // namespace blockcopy
