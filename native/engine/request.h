// What a caller asks of the engine. The JS layer has already validated types and
// resolved defaults that depend only on the options themselves.
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

enum class SparseMode { Auto, Always, Never };
enum class SyncMode { None, Data, Full };
enum class BackendChoice { Auto, IoUring, Pread, CopyFileRange };
enum class ReflinkMode { Auto, Always, Never };

struct CopyRequest {
  Target src;
  Target dst;
  uint64_t src_offset = 0;
  uint64_t dst_offset = 0;
  std::optional<uint64_t> length;    // unset: to the end of the source
  std::optional<uint64_t> dst_size;  // resize the destination first
  SparseMode sparse = SparseMode::Auto;
  SyncMode fsync = SyncMode::None;
  BackendChoice backend = BackendChoice::Auto;
  ReflinkMode reflink = ReflinkMode::Auto;
  bool direct = false;
  uint32_t block_size = 1u << 20;
  uint32_t queue_depth = 16;
  bool truncate = false;
  bool target_is_zero = false;
  bool overwrite = true;
  bool force = false;
  uint64_t bandwidth = 0;  // bytes per second, 0 = unlimited
  uint32_t progress_interval_ms = 250;
  uint32_t progress_delay_ms = 0;
};

}  // namespace blockcopy
