// A target reached over NBD, as Source and Destination hold it: the export,
// and for an image file in a format (qcow2, vmdk...) the qemu-nbd serving it
// for this job. Closing disconnects; the server is stopped either way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "file.h"
#include "nbd_export.h"
#include "qemu_nbd.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

class NbdTarget {
 public:
  NbdTarget() = default;
  NbdTarget(const NbdTarget&) = delete;
  NbdTarget& operator=(const NbdTarget&) = delete;
  ~NbdTarget() { close(); }

  // Connects to the URI's server, or serves `target.path` in `target.format`
  // (made new first with `create_size` bytes when set, by qemu-img create).
  Status open(const Target& target, Side side, bool writable, std::optional<uint64_t> create_size);
  // The export as the ends see a file: FileType::Nbd, its size, and its
  // preferred block size (at least 4 KiB) as the block size. dev and ino stay.
  void describe(FileInfo* info) const;
  NbdExport& nbd() { return export_; }
  const NbdExport& nbd() const { return export_; }

  // The job is done: disconnect, and a qemu-nbd of ours writes out what it
  // holds and exits; its failure to do so is the job's.
  Status finish();
  // Stopped early or failed: disconnect, and stop a qemu-nbd of ours.
  void close();

 private:
  NbdExport export_;
  NbdTimeout timeout_;
  std::unique_ptr<QemuNbd> server_;
  bool closed_ = false;
};

}  // namespace blockcopy
