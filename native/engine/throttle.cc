#include "throttle.h"

#include <algorithm>
#include <thread>

namespace blockcopy {

// Unused allowance is kept for at most this long, so a pause does not turn into a burst.
static constexpr std::chrono::milliseconds kBurst{100};
// Sleep in slices so cancel and a changed rate are noticed promptly.
static constexpr std::chrono::milliseconds kSlice{20};

void Throttle::acquire(uint64_t bytes, const std::atomic<bool>& cancelled) {
  uint64_t rate = this->rate();
  if (rate == 0) {
    primed_ = false;
    return;
  }
  auto now = Clock::now();
  if (!primed_ || allowed_at_ < now - kBurst) allowed_at_ = now - (primed_ ? kBurst : Clock::duration::zero());
  primed_ = true;
  allowed_at_ += std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(rate)));
  while (!cancelled.load(std::memory_order_relaxed)) {
    now = Clock::now();
    if (now >= allowed_at_) return;
    uint64_t current = this->rate();
    if (current != rate) {  // changed live: re-time what is still owed at the new rate
      if (current == 0) return;
      auto owed = std::chrono::duration<double>(allowed_at_ - now).count() * static_cast<double>(rate);
      allowed_at_ = now + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(owed / static_cast<double>(current)));
      rate = current;
      continue;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(kSlice, allowed_at_ - now));
  }
}

}  // namespace blockcopy
