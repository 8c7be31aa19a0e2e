// What a running copy shares with the outside world: its cancel token, the
// throttle and the progress counters. Everything here is safe from any thread.
#pragma once

#include <cerrno>
#include <chrono>

#include "cancel.h"
#include "progress.h"
#include "status.h"
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

// A wait deep below the job's loop (an NBD reply, a handshake) that gave up
// because the job was cancelled: the job ends cancelled, not failed.
inline bool ended_by_cancel(const Status& s, const CopyControl& control) {
  return s.err == ECANCELED && control.cancel.requested();
}

// Progress reports leave the copy loop through this. Returning false cancels
// the copy (sync mode's onProgress returning false).
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual bool report(const ProgressSnapshot& snapshot) = 0;
};

// When a running job reports: not before `delay_ms` after it started, then
// every `interval_ms`. The meter's rate is sampled at every tick.
class ReportSchedule {
 public:
  ReportSchedule(const ProgressMeter& meter, uint32_t delay_ms, uint32_t interval_ms)
      : next_(meter.started() + std::chrono::milliseconds(delay_ms)), interval_(interval_ms) {}

  // The job's thread, between pieces of work. A sink that answers false cancels.
  void tick(CopyControl& control, ProgressSink* sink) {
    const auto now = ProgressMeter::Clock::now();
    control.meter.sample(now);
    if (!sink || now < next_) return;
    next_ = now + interval_;
    if (!sink->report(control.meter.snapshot())) control.cancel.request();
  }

 private:
  ProgressMeter::Clock::time_point next_;
  std::chrono::milliseconds interval_;
};

}  // namespace blockcopy
