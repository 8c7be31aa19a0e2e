// Cancel, from the caller's side to the copy loop. Requested from any thread
// (job.cancel(), an AbortSignal, onProgress returning false, env teardown);
// seen by the copy thread at its checkpoint between pieces of work
// (CopyLoop::checkpoint), and by the throttle while it waits, so a copy stops
// within one piece and reports an exact resume offset.
#pragma once

#include <atomic>

namespace blockcopy {

class CancelToken {
 public:
  void request() { requested_.store(true, std::memory_order_relaxed); }
  bool requested() const { return requested_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> requested_{false};
};

}  // namespace blockcopy
