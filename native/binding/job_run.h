// What an engine job (a copy, a transfer on a descriptor) shares with JS while
// it runs on its own thread: the control (cancel, throttle, counters) and the
// way its progress reaches JS.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "../engine/control.h"
#include "worker.h"

namespace blockcopy::binding {

struct JobRun : ProgressSink {
  CopyControl control;
  Worker* worker = nullptr;  // outlives the work that reports through it
  std::atomic<bool> report_queued{false};

  explicit JobRun(uint64_t bandwidth = 0) : control(bandwidth) {}

  // Job thread: at most one progress event waits in the queue at a time, and
  // it reads the live counters when it runs, so a busy event loop sees the
  // latest figures rather than a backlog of old ones.
  bool report(const ProgressSnapshot&) override;
};

// Runs `job` as the one and last piece of work of a new Worker: its Deliver
// goes to `on_event` ('end'), after any 'progress' events. At env teardown the
// job is cancelled, then joined: nothing runs after the env is gone. The run
// is freed on the main thread, when the Worker goes.
std::shared_ptr<Worker> start_job(Napi::Env env, const char* name, Napi::Function on_event, std::shared_ptr<JobRun> run,
                                  Worker::Work job);

}  // namespace blockcopy::binding
