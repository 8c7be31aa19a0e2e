#include "copy.h"

#include "backend.h"
#include "copy_loop.h"
#include "copy_plan.h"

namespace blockcopy {

static CopyOutcome finish(CopyControl& control, Ending ending, Status status, uint64_t resume,
                          const char* backend = "pread") {
  CopyOutcome out;
  out.backend = backend;
  out.ending = ending;
  out.status = std::move(status);
  out.resume_offset = resume;
  if (ending == Ending::Completed) control.meter.finish(ProgressMeter::Clock::now());
  out.progress = control.meter.snapshot();
  return out;
}

CopyOutcome run_copy(const CopyRequest& req, CopyControl& control, ProgressSink* sink) {
  if (control.cancel.requested()) return finish(control, Ending::Cancelled, Status::Ok(), req.src_offset);

  CopyPlan plan;
  Status s = prepare_copy(req, &plan);
  if (!s.ok()) return finish(control, Ending::Failed, s, req.src_offset);
  BackendPlan backend;
  s = choose_backend(req, plan, &backend);
  if (!s.ok()) {
    plan.dst.abandon();
    return finish(control, Ending::Failed, s, req.src_offset);
  }

  CopyLoop loop(plan, req, backend, control, sink);
  s = loop.run();
  const uint64_t resume = loop.resume_offset();
  if (!s.ok() && control.meter.snapshot().bytes_written == 0) {
    // Failed before a byte landed (reflink: 'always' refused, say): leave no
    // destination of ours behind.
    plan.dst.abandon();
  }
  if (!s.ok() || loop.stopped()) {
    plan.dst.stop_at(plan.to_dst(resume));
    return finish(control, s.ok() ? Ending::Cancelled : Ending::Failed, s, resume, loop.backend_used());
  }
  s = plan.dst.finish(req.fsync);
  if (!s.ok()) return finish(control, Ending::Failed, s, resume, loop.backend_used());
  loop.release_cache();
  return finish(control, Ending::Completed, Status::Ok(), plan.src_offset + plan.length, loop.backend_used());
}

}  // namespace blockcopy
