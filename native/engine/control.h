// What a running copy shares with the outside world: the cancel flag, the
// throttle and the progress counters. Everything here is safe from any thread.
#pragma once

#include <atomic>

#include "progress.h"
#include "throttle.h"

namespace blockcopy {

struct JobControl {
  // The limit is set here, before any thread starts, so a setBandwidth() that
  // arrives while the job is starting up is never overwritten.
  explicit JobControl(uint64_t bandwidth = 0) : throttle(bandwidth) {}

  std::atomic<bool> cancelled{false};
  Throttle throttle;
  ProgressMeter meter;

  void cancel() { cancelled.store(true, std::memory_order_relaxed); }
  bool is_cancelled() const { return cancelled.load(std::memory_order_relaxed); }
};

// Progress reports leave the copy loop through this. Returning false cancels
// the copy (sync mode's onProgress returning false).
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual bool report(const ProgressSnapshot& snapshot) = 0;
};

}  // namespace blockcopy
