#include "progress.h"

#include <cmath>

namespace blockcopy {

namespace {
constexpr auto kMinSampleGap = std::chrono::milliseconds(200);
constexpr double kSmoothingSeconds = 3.0;
// The ETA stays unknown until the rate has been watched this long (libguestfs
// hides an estimate that still jumps about).
constexpr double kEtaSettleSeconds = 2.0;
constexpr auto relaxed = std::memory_order_relaxed;

double seconds_between(ProgressMeter::Clock::time_point a, ProgressMeter::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

void ProgressMeter::set_totals(uint64_t bytes_total, uint64_t length) {
  total_.store(bytes_total, relaxed);
  length_.store(length, relaxed);
}

void ProgressMeter::add(uint64_t done, uint64_t written, uint64_t skipped) {
  if (done) done_.fetch_add(done, relaxed);
  if (written) written_.fetch_add(written, relaxed);
  if (skipped) skipped_.fetch_add(skipped, relaxed);
}

void ProgressMeter::reach(uint64_t position) {
  uint64_t seen = position_.load(relaxed);
  while (position > seen && !position_.compare_exchange_weak(seen, position, relaxed)) {
  }
}

void ProgressMeter::sample(Clock::time_point now) {
  if (now - last_sample_ < kMinSampleGap) return;
  const double dt = seconds_between(last_sample_, now);
  const uint64_t done = done_.load(relaxed);
  const double instant = static_cast<double>(done - last_done_) / dt;
  const double previous = rate_.load(relaxed);
  const double weight = samples_ == 0 ? 1.0 : 1.0 - std::exp(-dt / kSmoothingSeconds);
  const double rate = previous + weight * (instant - previous);
  rate_.store(rate, relaxed);
  samples_++;
  last_sample_ = now;
  last_done_ = done;

  const uint64_t total = total_.load(relaxed);
  const bool settled = seconds_between(started_, now) >= kEtaSettleSeconds && rate > 0;
  eta_.store(settled ? static_cast<double>(total > done ? total - done : 0) / rate : -1, relaxed);
}

void ProgressMeter::finish(Clock::time_point now) {
  const double elapsed = seconds_between(started_, now);
  const uint64_t done = done_.load(relaxed);
  rate_.store(elapsed > 0 ? static_cast<double>(done) / elapsed : 0, relaxed);
  eta_.store(0, relaxed);
}

ProgressSnapshot ProgressMeter::snapshot() const {
  ProgressSnapshot s;
  s.bytes_total = total_.load(relaxed);
  s.length = length_.load(relaxed);
  s.bytes_done = done_.load(relaxed);
  s.bytes_written = written_.load(relaxed);
  s.bytes_skipped = skipped_.load(relaxed);
  s.position = position_.load(relaxed);
  s.rate = rate_.load(relaxed);
  s.eta_seconds = eta_.load(relaxed);
  s.elapsed_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count());
  return s;
}

}  // namespace blockcopy
