// What a caller asks of the engine, as the binding converts it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace blockcopy {

// A path, or a file descriptor the caller owns (never closed by the engine).
struct Target {
  std::string path;
  int fd = -1;
  bool is_fd() const { return fd >= 0; }
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
  uint64_t bandwidth{};  // bytes per second, 0 = unlimited
  uint32_t progress_interval_ms{};
  uint32_t progress_delay_ms{};
};

}  // namespace blockcopy
