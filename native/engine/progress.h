// Live progress counters: written by the copy thread, read by anyone at any time
// without locks or I/O (job.progress() and the progress reports).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "zeroing.h"

namespace blockcopy {

struct ProgressSnapshot {
  uint64_t bytes_done = 0;     // data bytes handled (copied, or found zero and skipped)
  uint64_t bytes_total = 0;    // data bytes in the range, the part not mapped yet counted as data
  uint64_t bytes_written = 0;  // data bytes written to the destination
  uint64_t bytes_zeroed = 0;   // hole and zero bytes made zero over old data (zeroing.h)
  uint64_t bytes_skipped = 0;  // hole and zero bytes that needed nothing
  uint32_t zero_methods = 0;   // how bytes_zeroed were zeroed: a bit per ZeroMethod
  uint64_t position = 0;       // furthest logical offset reached, relative to the range start
  uint64_t length = 0;         // logical length of the range
  double rate = 0;             // bytes/s of bytes_done, smoothed
  double eta_seconds = -1;     // < 0: not yet known
  uint64_t elapsed_ms = 0;
  // A copy with verify, once it reads back: bytes of the range compared so far.
  // From then on rate and ETA are the comparison's.
  bool verifying = false;
  uint64_t bytes_verified = 0;
};

class ProgressMeter {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressMeter() : started_(Clock::now()) {}

  void set_totals(uint64_t bytes_total, uint64_t length);
  // A window more of the range is mapped: the total drops by the holes it
  // found. Never raises it, so the share done never goes back.
  void lower_total(uint64_t bytes_total);
  void add(uint64_t done, uint64_t written, uint64_t skipped);
  void add_zeroing(const Zeroing& zeroing);
  void reach(uint64_t position);  // never moves backwards
  // The copy is done and its verification starts (copy thread).
  void start_verify();
  void add_verified(uint64_t bytes);

  // Copy thread only: folds the bytes done since the last sample into the rate.
  void sample(Clock::time_point now);
  // Copy thread only, at the end: the average over the whole job replaces the
  // smoothed rate, which is what a summary line wants.
  void finish(Clock::time_point now);

  ProgressSnapshot snapshot() const;
  Clock::time_point started() const { return started_; }

 private:
  // The seconds left, or -1 while the estimate still moves (see progress.cc).
  double eta_if_settled(double left, double elapsed);

  const Clock::time_point started_;
  std::atomic<uint64_t> total_{0}, length_{0};
  std::atomic<uint64_t> done_{0}, written_{0}, zeroed_{0}, skipped_{0}, position_{0};
  std::atomic<uint32_t> zero_methods_{0};
  std::atomic<double> rate_{0}, eta_{-1};
  std::atomic<bool> verifying_{false};
  std::atomic<uint64_t> verified_{0};

  // Sampling state, copy thread only.
  Clock::time_point last_sample_ = started_;
  Clock::time_point baseline_ = started_;  // the phase's first sample
  uint64_t last_done_ = 0;  // of the phase's counter: bytes done, then bytes verified
  int samples_ = 0;
  double predicted_finish_ = -1;  // seconds after the start, by the last estimate
  int agreements_ = 0;
};

}  // namespace blockcopy
