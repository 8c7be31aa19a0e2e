#include "progress.h"

#include <algorithm>
#include <cmath>

namespace blockcopy {

namespace {
constexpr auto kMinSampleGap = std::chrono::milliseconds(200);
constexpr double kSmoothingSeconds = 3.0;
// The ETA stays unknown until successive estimates agree (libguestfs hides an
// estimate that still jumps about): each must predict the same finish time as
// the one before, within this share of the time left or a second, whichever
// is more, this many samples in a row.
constexpr double kEtaTolerance = 0.15;
constexpr int kEtaAgreements = 4;
constexpr auto relaxed = std::memory_order_relaxed;

double seconds_between(ProgressMeter::Clock::time_point a, ProgressMeter::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

void ProgressMeter::set_totals(uint64_t bytes_total, uint64_t length) {
  total_.store(bytes_total, relaxed);
  length_.store(length, relaxed);
}

void ProgressMeter::lower_total(uint64_t bytes_total) {
  if (bytes_total < total_.load(relaxed)) total_.store(bytes_total, relaxed);
}

void ProgressMeter::add(uint64_t done, uint64_t written, uint64_t skipped) {
  if (done) done_.fetch_add(done, relaxed);
  if (written) written_.fetch_add(written, relaxed);
  if (skipped) skipped_.fetch_add(skipped, relaxed);
}

void ProgressMeter::add_zeroing(const Zeroing& zeroing) {
  if (zeroing.bytes) zeroed_.fetch_add(zeroing.bytes, relaxed);
  if (zeroing.methods) zero_methods_.fetch_or(zeroing.methods, relaxed);
}

void ProgressMeter::reach(uint64_t position) {
  uint64_t seen = position_.load(relaxed);
  while (position > seen && !position_.compare_exchange_weak(seen, position, relaxed)) {
  }
}

void ProgressMeter::start_verify() {
  verifying_.store(true, relaxed);
  // The rate and the ETA start again, for the comparison.
  samples_ = 0;
  agreements_ = 0;
  predicted_finish_ = -1;
  last_sample_ = Clock::now();
  last_done_ = 0;
  rate_.store(0, relaxed);
  eta_.store(-1, relaxed);
}

void ProgressMeter::add_verified(uint64_t bytes) { verified_.fetch_add(bytes, relaxed); }

void ProgressMeter::sample(Clock::time_point now) {
  if (now - last_sample_ < kMinSampleGap) return;
  const bool verifying = verifying_.load(relaxed);
  const uint64_t done = verifying ? verified_.load(relaxed) : done_.load(relaxed);
  // The first sample holds the start's burst (a throttle lets its first
  // request and the setup's allowance go at once), which a 3 s average would
  // show for seconds as more than the limit: it is only the baseline. From
  // there the rate is the plain average since it, until that spans more than
  // the smoothing, then the moving average.
  if (samples_++ == 0) {
    baseline_ = last_sample_ = now;
    last_done_ = done;
    return;
  }
  const double dt = seconds_between(last_sample_, now);
  const double instant = static_cast<double>(done - last_done_) / dt;
  const double previous = rate_.load(relaxed);
  const double weight = std::max(dt / seconds_between(baseline_, now), 1.0 - std::exp(-dt / kSmoothingSeconds));
  const double rate = previous + weight * (instant - previous);
  rate_.store(rate, relaxed);
  last_sample_ = now;
  last_done_ = done;

  const uint64_t total = verifying ? length_.load(relaxed) : total_.load(relaxed);
  const double left = rate > 0 ? static_cast<double>(total > done ? total - done : 0) / rate : -1;
  eta_.store(eta_if_settled(left, seconds_between(started_, now)), relaxed);
}

double ProgressMeter::eta_if_settled(double left, double elapsed) {
  if (left < 0) {
    agreements_ = 0;
    return -1;
  }
  const double finish = elapsed + left;
  const double drift = std::abs(finish - predicted_finish_);
  agreements_ = drift <= std::max(1.0, kEtaTolerance * left) ? agreements_ + 1 : 0;
  predicted_finish_ = finish;
  return agreements_ >= kEtaAgreements ? left : -1;
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
  s.bytes_zeroed = zeroed_.load(relaxed);
  s.bytes_skipped = skipped_.load(relaxed);
  s.zero_methods = zero_methods_.load(relaxed);
  s.position = position_.load(relaxed);
  s.rate = rate_.load(relaxed);
  s.eta_seconds = eta_.load(relaxed);
  s.verifying = verifying_.load(relaxed);
  s.bytes_verified = verified_.load(relaxed);
  s.elapsed_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count());
  return s;
}

}  // namespace blockcopy
