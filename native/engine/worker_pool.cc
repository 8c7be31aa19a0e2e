#include "worker_pool.h"

#include <algorithm>

namespace blockcopy {

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); i++) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

unsigned WorkerPool::threads_for_machine(unsigned most) {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp(cores ? cores : 1u, 1u, most);
}

void WorkerPool::start(size_t count, std::function<void(size_t)> item) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    item_ = std::move(item);
    count_ = count;
    next_ = 0;
    done_ = 0;
  }
  work_.notify_all();
}

void WorkerPool::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [this] { return done_ == count_; });
}

// Items are taken one at a time under the lock: each is a 64 KiB hash, far
// longer than the lock is held.
void WorkerPool::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || next_ < count_; });
    if (stopping_) return;
    const size_t i = next_++;
    lock.unlock();
    item_(i);
    lock.lock();
    if (++done_ == count_) finished_.notify_all();
  }
}

}  // namespace blockcopy
