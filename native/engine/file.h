// Opening the two ends of a copy and learning what they are.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "request.h"
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

enum class FileType { Regular, BlockDevice, Other };

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
bool same_file(const FileInfo& a, const FileInfo& b);

// Opens the source read-only; directories and files that cannot be read at an
// offset (pipes, character devices) are refused here, before any destination exists.
Status open_source(const Target& target, Fd* fd, FileInfo* info);

struct DestinationOpen {
  bool overwrite = true;  // false: EEXIST when it exists
  bool force = false;     // block devices: skip the O_EXCL "not in use" guard
  mode_t create_mode = 0666;
};

// Opens (or creates) the destination for writing. A dangling symlink is
// followed and its target created, as dd, qemu-img and fs.copyFile do (unless
// overwrite is false: the name exists). `created_path` is set to the file this
// call created, so a copy that fails before writing can remove it again, and
// left empty when the file was there already.
Status open_destination(const Target& target, const DestinationOpen& how, Fd* fd,
                        FileInfo* info, std::string* created_path);

// Opens the same file again with O_DIRECT (via /proc/self/fd/N). EINVAL from a
// filesystem without direct I/O (tmpfs) is reported as such.
Status reopen_direct(int fd, int access, Side side, Fd* out);

// The alignment O_DIRECT needs for offsets, lengths and buffers: the device's
// logical block size (BLKSSZGET), or st_blksize for files.
uint32_t direct_alignment(int fd, const FileInfo& info);

// Destination sizing and flushing, shared by copies and streamed writes.
Status set_file_size(int fd, uint64_t size);
// Grows a regular file to `end` (a trailing hole), or cuts it there when `cut`.
Status size_file_to(int fd, uint64_t end, bool cut);
Status flush_file(int fd, SyncMode mode);

}  // namespace blockcopy
