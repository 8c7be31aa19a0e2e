// What a copy or a transfer writes: a regular file or a block device, opened
// or created, locked against other jobs, sized by one set of rules, written,
// zeroed where holes land on old data, flushed, and finished or abandoned.
// Or an NBD export (a URI, or an image file in a format that qemu-nbd serves;
// a new one made by qemu-img create): sized like a device, written, zeroed
// and flushed with NBD requests. The one place a destination is opened, sized
// or removed again.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "file.h"
#include "nbd_target.h"
#include "range_lock.h"
#include "request.h"
#include "status.h"
#include "zero_range.h"

namespace blockcopy {

struct DestinationOpen {
  bool overwrite{};     // false: EEXIST when the name exists
  bool force{};         // block devices: skip the O_EXCL "not in use" guard
  mode_t create_mode{};  // for a file it creates, less the umask
};

// The part of the destination a job writes, and what it does to the rest.
struct DestinationRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::optional<uint64_t> new_size;  // dstSize: the file's size is set to this
  bool truncate = false;             // the file ends where the range does
  bool target_is_zero = false;       // the caller says the range reads as zeros already
};

// When a regular file takes its new size (truncate, dstSize).
enum class Resize {
  First,  // before the first write, as cp's O_TRUNC does (copies)
  AtEnd,  // in finish() only, so a stream that breaks early leaves the file as it was (receivers)
};

class Destination {
 public:
  // Opens, or creates. A dangling symlink is followed and its target created,
  // as dd, qemu-img and fs.copyFile do (unless overwrite is false: the name
  // exists). Directories, FIFOs and character devices are refused.
  Status open(const Target& target, const DestinationOpen& how);

  // Locks the bytes the range may change (one job per target, range_lock.h)
  // and checks that the range fits. Nothing is changed yet.
  Status claim(const DestinationRange& range);

  // Gets a regular file ready for writing. `holds_source`: the file is also
  // the source, which is never cut before it has been read.
  Status prepare(Resize when, bool holds_source);

  // Buffers gathered into one write at an absolute offset; short writes are
  // continued. `*written` says how much landed, also when it fails midway.
  Status write_gathered(uint64_t at, std::vector<iovec> pieces, uint64_t* written);

  // Makes [at, at + length) read as zeros: nothing to do where the file
  // already does (fresh, cut, past its old end), zeroing over old data.
  // `*out` gains what had to be zeroed and how; the rest needed nothing.
  Status zero(uint64_t at, uint64_t length, Zeroing* out);

  // The range is in: the final size (cut, grown, dstSize), the flush, and
  // the lock let go, so another job may have the file once this one settles.
  Status finish(SyncMode fsync);

  // Stopped early: at least `end` long, so a prefix whose last part was a
  // skipped hole reads back right.
  void stop_at(uint64_t end);
  // stop_at(end), and what was written flushed to the disk (a one-way
  // receiver's resume point must survive a crash).
  Status stop_durably_at(uint64_t end);

  // Failed before a byte landed: removes the file open() created, if any
  // (through a dangling symlink: the file, not the link).
  void abandon();

  int fd() const { return fd_.get(); }
  const FileInfo& info() const { return info_; }
  // A size of its own that no job changes: a block device or an NBD export.
  bool fixed_size() const { return info_.type != FileType::Regular; }
  bool created() const { return !created_.empty(); }
  // The export, for a destination reached over NBD; null for a file or device.
  NbdExport* nbd() const { return nbd_ ? &nbd_->nbd() : nullptr; }

 private:
  Status open_nbd(const Target& target, const DestinationOpen& how);
  Status serve_image();
  Status check_fits() const;
  Status grow_before_writing();
  uint64_t end() const { return range_.offset + range_.length; }

  Fd fd_;
  FileInfo info_;
  std::string created_;  // the file open() created, to remove if nothing lands in it
  RangeLock lock_;       // after fd_: let go before it closes
  DestinationRange range_;
  Resize resize_ = Resize::First;
  bool grown_ = false;
  uint64_t old_data_end_ = 0;  // absolute; below it the file may hold old data
  std::optional<RangeZeroer> zeroer_;
  Target target_;                    // an image file's: served once the range is known
  std::unique_ptr<NbdTarget> nbd_;
  bool fresh_ = false;               // an image qemu-img just made: reads as zeros
};

}  // namespace blockcopy
