// Bandwidth limit: the copy loop draws from it before each read, one request
// at a time, so the first bytes move at once and the rate holds from the
// first second whatever the queue depth.
#pragma once

#include "cancel.h"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace blockcopy {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;

  // The job's clock starts here, when the job is made: a short setup (a buffer
  // pool to register) is made up by its first requests, within the same burst
  // allowance as any pause.
  explicit Throttle(uint64_t bytes_per_second = 0)
      : rate_(bytes_per_second), next_turn_(Clock::now()), timed_rate_(bytes_per_second) {}

  // Any thread, any time; 0 lifts the limit. Takes effect within one wait slice.
  void set_rate(uint64_t bytes_per_second) { rate_.store(bytes_per_second, std::memory_order_relaxed); }
  uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }

  // Copy thread. Lets `bytes` through now and returns zero, or returns how
  // long until their turn (taking nothing). A job's first request goes at
  // once; each one then moves the next turn back by bytes / rate.
  Clock::duration try_take(uint64_t bytes);
  // Copy thread. Blocks until `bytes` may pass, waking early on cancel.
  void acquire(uint64_t bytes, const CancelToken& cancel);

 private:
  std::atomic<uint64_t> rate_;
  // Copy thread only.
  Clock::time_point next_turn_;
  uint64_t timed_rate_;  // the rate next_turn_ was worked out at; 0: unlimited until now
};

}  // namespace blockcopy
