// What a copy or a transfer reads: a regular file or a block device, opened
// read-only, sized (BLKGETSIZE64 for devices, never st_size), mapped into data
// and holes, and read exactly; or an NBD export (an NBD URI, or an image file
// in a format, served by qemu-nbd), sized, mapped (block status) and read the
// same way. The one place a source is opened, its range checked, mapped, or
// found to end too soon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "extent_map.h"
#include "file.h"
#include "nbd_target.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

class Source {
 public:
  // Directories and what cannot be read at an offset (pipes, character
  // devices) are refused here, before any destination exists.
  Status open(const Target& target);

  // An unset length runs to the end; a range past the end is ERR_OUT_OF_RANGE,
  // worded with `name`, the option as the caller spelt it ("srcOffset", "offset").
  Status resolve(uint64_t offset, std::optional<uint64_t> length, const char* name, uint64_t* resolved) const;

  // [offset, offset + length) as data and hole extents, ascending; sparse
  // 'never' takes it all as data.
  Status extents(uint64_t offset, uint64_t length, SparseMode sparse, std::vector<Extent>* out) const;

  // Exactly `length` bytes at `offset`, or the error of a source that ended first.
  Status read(unsigned char* buf, size_t length, uint64_t offset) const;

  // A source that ends at `at`, inside the range being read (it shrank while
  // we read it): EIO saying so. Every mover reports it this way.
  static Status ended_at(uint64_t at);

  int fd() const { return fd_.get(); }
  const FileInfo& info() const { return info_; }
  uint64_t size() const { return info_.size; }
  // The export, for a source reached over NBD; null for a file or device.
  NbdExport* nbd() const { return nbd_ ? &nbd_->nbd() : nullptr; }

 private:
  Status open_file(const Target& target);
  Status open_nbd(const Target& target);

  Fd fd_;
  FileInfo info_;
  std::unique_ptr<NbdTarget> nbd_;
};

// The public extents() query: the data/hole map of part of a file or device.
Status extents_of(const Target& target, uint64_t offset, std::optional<uint64_t> length, std::vector<Extent>* out);

}  // namespace blockcopy
