#include "job_run.h"

#include "convert.h"

namespace blockcopy::binding {

bool JobRun::report(const ProgressSnapshot&) {
  if (report_queued.exchange(true)) return true;
  const bool queued = worker->notify([this](Napi::Env env, Napi::Function on_event) {
    report_queued = false;
    on_event.Call({Napi::String::New(env, "progress"), progress_to_js(env, control.meter.snapshot())});
  });
  if (!queued) report_queued = false;
  return true;
}

std::shared_ptr<Worker> start_job(Napi::Env env, const char* name, Napi::Function on_event, std::shared_ptr<JobRun> run,
                                  Worker::Work job) {
  auto worker = Worker::Create(env, name, on_event, [run] { run->control.cancel.request(); });
  run->worker = worker.get();
  worker->close(env, {}, [run, job = std::move(job)]() -> Worker::Deliver {
    Worker::Deliver deliver = job();
    return [run, deliver](Napi::Env env, Napi::Function on_event) { deliver(env, on_event); };  // run lives until here
  });
  return worker;
}

}  // namespace blockcopy::binding
