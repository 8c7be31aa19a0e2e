// An asynchronous copy on an engine thread of its own.
#pragma once

#include <functional>

#include "control.h"
#include "copy.h"
#include "engine_thread.h"
#include "request.h"

namespace blockcopy {

class CopyThread {
 public:
  using OnEnd = std::function<void(const CopyOutcome&)>;

  explicit CopyThread(CopyRequest req) : req_(std::move(req)), control_(req_.bandwidth) {}

  JobControl& control() { return control_; }

  // `sink` and `on_end` are called on the copy thread; `on_end` is its last act.
  void start(ProgressSink* sink, OnEnd on_end) {
    thread_.start([this, sink, on_end = std::move(on_end)] { on_end(run_copy(req_, control_, sink)); });
  }
  void join() { thread_.join(); }

 private:
  CopyRequest req_;
  JobControl control_;
  EngineThread thread_;  // last: joined before the request and control go away
};

}  // namespace blockcopy
