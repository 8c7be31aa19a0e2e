#include "throttle.h"

#include <algorithm>
#include <thread>

namespace blockcopy {

// Unused allowance is kept for at most this long, so a pause (a slow disk, a
// busy consumer) does not turn into a burst.
static constexpr std::chrono::milliseconds kBurst{100};
// Sleep in slices so cancel and a changed rate are noticed promptly.
static constexpr std::chrono::milliseconds kSlice{20};

static Throttle::Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Throttle::Clock::duration>(std::chrono::duration<double>(s));
}

Throttle::Clock::duration Throttle::try_take(uint64_t bytes) {
  const uint64_t rate = this->rate();
  if (rate == 0) {
    timed_rate_ = 0;
    return Clock::duration::zero();
  }
  const auto now = Clock::now();
  if (timed_rate_ == 0) {  // limited from now on
    next_turn_ = now;
  } else if (rate != timed_rate_ && next_turn_ > now) {
    // Changed live: what is still owed is paid at the new rate.
    const double owed = std::chrono::duration<double>(next_turn_ - now).count() * static_cast<double>(timed_rate_);
    next_turn_ = now + seconds(owed / static_cast<double>(rate));
  }
  timed_rate_ = rate;
  if (next_turn_ > now) return next_turn_ - now;
  next_turn_ = std::max(next_turn_, now - kBurst) + seconds(static_cast<double>(bytes) / static_cast<double>(rate));
  return Clock::duration::zero();
}

void Throttle::acquire(uint64_t bytes, const CancelToken& cancel) {
  while (!cancel.requested()) {
    const auto wait = try_take(bytes);
    if (wait == Clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(kSlice, wait));
  }
}

}  // namespace blockcopy
