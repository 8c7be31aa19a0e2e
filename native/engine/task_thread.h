// A thread of the engine's own that runs posted tasks one at a time, in order:
// the streams' reads and writes happen here, never on libuv's pool.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "engine_thread.h"

namespace blockcopy {

class TaskThread {
 public:
  TaskThread() {
    thread_.start([this] { run(); });
  }
  ~TaskThread() { stop(); }

  // False once stopped: the task will never run.
  bool post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
    wake_.notify_one();
    return true;
  }

  // Lets the task in progress finish, drops the rest, and joins.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      tasks_.clear();
      wake_.notify_one();
    }
    thread_.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (stopping_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  EngineThread thread_;  // last: started once the rest exists
};

}  // namespace blockcopy
