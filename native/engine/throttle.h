// Bandwidth limit: a token bucket the copy loop draws from before each transfer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace blockcopy {

class Throttle {
 public:
  explicit Throttle(uint64_t bytes_per_second = 0) : rate_(bytes_per_second) {}

  // Any thread, any time; 0 lifts the limit. Takes effect within one wait slice.
  void set_rate(uint64_t bytes_per_second) { rate_.store(bytes_per_second, std::memory_order_relaxed); }
  uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }

  // Blocks the copy thread until `bytes` may pass, waking early on cancel.
  void acquire(uint64_t bytes, const std::atomic<bool>& cancelled);

 private:
  using Clock = std::chrono::steady_clock;
  std::atomic<uint64_t> rate_;
  Clock::time_point allowed_at_{};  // copy thread only: when the bucket is next empty
  bool primed_ = false;
};

}  // namespace blockcopy
