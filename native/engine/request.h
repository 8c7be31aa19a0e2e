// What a caller asks of the engine, as the binding converts it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace blockcopy {

// Where an NBD export is: a unix socket (a path, or an abstract name starting
// with '\0') or a TCP host and port, and the export's name.
struct NbdAddress {
  std::string socket;
  std::string host;
  uint16_t port = 0;
  std::string export_name;
};

// A path, a file descriptor the caller owns (never closed by the engine), or
// an NBD export. `format` (not "raw") reaches the file at `path` through a
// qemu-nbd the engine runs for the job (qemu_nbd.h). `connections`: how many
// an NBD target may open when its server allows several (multi-conn).
struct Target {
  std::string path;
  int fd = -1;
  std::optional<NbdAddress> nbd;
  std::string format;
  uint32_t connections = 1;
  uint32_t nbd_timeout_ms = 0;  // over NBD: how long any one wait for the server may last; 0: no limit
  bool compress = false;        // a qcow2 destination written through qemu's compress filter
  bool is_fd() const { return fd >= 0; }
  // Reached over NBD: an NBD URI, or an image format qemu-nbd serves.
  bool over_nbd() const { return nbd.has_value() || !format.empty(); }
};

// The modes, in the order of their lists in lib/types.ts (SPARSE_MODES,
// SYNC_MODES, BACKEND_NAMES, REFLINK_MODES): the binding passes the index.
enum class SparseMode { Auto, Always, Never };
enum class SyncMode { None, Data, Full };
enum class BackendChoice { Auto, IoUring, Pread, CopyFileRange };
enum class ReflinkMode { Auto, Always, Never };

// Every field is set by the binding from options the JS layer checked and
// completed (lib/options.ts): the engine keeps no defaults of its own.
struct CopyRequest {
  Target src;
  Target dst;
  uint64_t src_offset{};
  uint64_t dst_offset{};
  std::optional<uint64_t> length;    // unset: to the end of the source
  std::optional<uint64_t> dst_size;  // resize the destination first
  SparseMode sparse{};
  SyncMode fsync{};
  BackendChoice backend{};
  ReflinkMode reflink{};
  bool direct{};
  uint32_t block_size{};
  uint32_t queue_depth{};
  bool truncate{};
  bool target_is_zero{};
  bool overwrite{};
  bool force{};
  bool verify{};  // read the destination range back and compare it with the source's
  uint64_t bandwidth{};  // bytes per second, 0 = unlimited
  uint32_t progress_interval_ms{};
  uint32_t progress_delay_ms{};
};

}  // namespace blockcopy
