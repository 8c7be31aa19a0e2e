// What a running copy shares with the outside world: its cancel token, the
// throttle and the progress counters. Everything here is safe from any thread.
#pragma once

#include "cancel.h"
#include "progress.h"
#include "throttle.h"

namespace blockcopy {

struct CopyControl {
  // The limit is set here, before any thread starts, so a setBandwidth() that
  // arrives while the copy is starting up is never overwritten.
  explicit CopyControl(uint64_t bandwidth = 0) : throttle(bandwidth) {}

  CancelToken cancel;
  Throttle throttle;
  ProgressMeter meter;
};

// Progress reports leave the copy loop through this. Returning false cancels
// the copy (sync mode's onProgress returning false).
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual bool report(const ProgressSnapshot& snapshot) = 0;
};

}  // namespace blockcopy
