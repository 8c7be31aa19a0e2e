// A thread of the engine's own that runs posted tasks one at a time, in
// order: every piece of async work (a copy, an extent query, a stream's reads
// and writes) runs on one, never on libuv's pool, so it cannot starve fs,
// dns or zlib elsewhere in the process.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace blockcopy {

class TaskThread {
 public:
  TaskThread() = default;
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;
  ~TaskThread() {
    finish();
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();  // destroyed by its own last task: it is on its way out
    else
      thread_.join();
  }

  // Starts the thread; `on_exit` is the last thing it does.
  void start(std::function<void()> on_exit) {
    thread_ = std::thread([this, on_exit = std::move(on_exit)] {
      run();
      if (on_exit) on_exit();
    });
  }

  // False once finishing: the task will never run.
  bool post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finishing_) return false;
    tasks_.push_back(std::move(task));
    wake_.notify_one();
    return true;
  }

  // Takes no more tasks and drops those not started; `last`, if given, runs
  // after the one in progress; then the thread exits. Returns at once, with
  // the number of tasks dropped.
  size_t finish(std::function<void()> last = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finishing_) return 0;
    finishing_ = true;
    const size_t dropped = tasks_.size();
    tasks_.clear();
    if (last) tasks_.push_back(std::move(last));
    wake_.notify_one();
    return dropped;
  }

  // Waits for the thread to exit: at teardown, or once it is known to be on
  // its way out (after its on_exit has run). Safe to call more than once.
  void join() {
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return finishing_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // finishing, and nothing left to run
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool finishing_ = false;
  std::thread thread_;
};

}  // namespace blockcopy
