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

// The token of the job running on this thread, for waits far below its loop
// (an NBD handshake, a reply half read) that no layer between could hand one
// down without every open() taking it. A job's entry point holds one for the
// job's life; a thread without one is never cancelled.
class CancelScope {
 public:
  explicit CancelScope(const CancelToken& token) : previous_(current_) { current_ = &token; }
  ~CancelScope() { current_ = previous_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

  static bool requested() { return current_ && current_->requested(); }

 private:
  const CancelToken* previous_;
  static inline thread_local const CancelToken* current_ = nullptr;
};

}  // namespace blockcopy
