// The threads async work runs on: owned by the engine, never libuv's pool, so
// a long copy or a slow extent query cannot starve fs, dns or zlib elsewhere.
#pragma once

#include <functional>
#include <thread>

namespace blockcopy {

class EngineThread {
 public:
  EngineThread() = default;
  ~EngineThread() { join(); }
  EngineThread(const EngineThread&) = delete;
  EngineThread& operator=(const EngineThread&) = delete;

  void start(std::function<void()> work) { thread_ = std::thread(std::move(work)); }
  // Safe to call more than once, from the one thread that owns this object.
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

}  // namespace blockcopy
