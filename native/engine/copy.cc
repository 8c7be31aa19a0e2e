#include "copy.h"

#include "backend.h"
#include "block_digest.h"
#include "copy_loop.h"
#include "copy_plan.h"
#include "verify.h"

namespace blockcopy {

static CopyOutcome finish(CopyControl& control, Ending ending, Status status, uint64_t resume,
                          const char* backend = "pread") {
  if (ending == Ending::Failed && ended_by_cancel(status, control)) {
    ending = Ending::Cancelled;
    status = Status::Ok();
  }
  CopyOutcome out;
  out.backend = backend;
  out.ending = ending;
  out.status = std::move(status);
  out.resume_offset = resume;
  if (ending == Ending::Completed) control.meter.finish(ProgressMeter::Clock::now());
  out.progress = control.meter.snapshot();
  return out;
}

// The source range as it was, for verify: gone once a copy within one file overwrites part of it.
static bool overwrites_own_source(const CopyPlan& plan) {
  return plan.same && plan.src_offset < plan.dst_end() && plan.dst_offset < plan.src_offset + plan.length;
}

// After the copy: the destination range read back and compared. A difference,
// or a read that failed, fails the job with the start of the block where
// certainty ends as the resume point: below it the destination was read back
// and holds the source's bytes.
static CopyOutcome verify_copy(const CopyRequest& req, const CopyPlan& plan, CopyControl& control, ProgressSink* sink,
                               const char* backend) {
  ReportSchedule schedule(control.meter, 0, req.progress_interval_ms);
  VerifyRange range{req.src, req.dst, plan.src_offset, plan.dst_offset, plan.length};
  uint64_t equal = 0;
  Status s = verify_range(range, control, schedule, sink, &equal);
  if (!s.ok()) {
    const uint64_t resume = ended_by_cancel(s, control) ? plan.src_offset + plan.length : plan.src_offset + equal / kDigestBlock * kDigestBlock;
    return finish(control, Ending::Failed, s, resume, backend);
  }
  if (control.cancel.requested()) return finish(control, Ending::Cancelled, s, plan.src_offset + plan.length, backend);
  return finish(control, Ending::Completed, Status::Ok(), plan.src_offset + plan.length, backend);
}

CopyOutcome run_copy(const CopyRequest& req, CopyControl& control, ProgressSink* sink) {
  CancelScope cancel_scope(control.cancel);
  if (control.cancel.requested()) return finish(control, Ending::Cancelled, Status::Ok(), req.src_offset);

  CopyPlan plan;
  Status s = prepare_copy(req, &plan);
  if (!s.ok()) return finish(control, Ending::Failed, s, req.src_offset);
  if (req.verify && overwrites_own_source(plan)) {
    return finish(control, Ending::Failed,
                  Status::Invalid("verify cannot check a copy whose destination range overlaps its source range in one "
                                  "file: the copy overwrites the bytes it would be compared with"),
                  req.src_offset);
  }
  BackendPlan backend;
  s = choose_backend(req, plan, &backend);
  if (!s.ok()) {
    plan.dst.abandon();
    return finish(control, Ending::Failed, s, req.src_offset);
  }

  CopyLoop loop(plan, req, backend, control, sink);
  s = loop.run();
  const uint64_t resume = loop.resume_offset();
  const bool stopped = loop.stopped() || ended_by_cancel(s, control);
  if (ended_by_cancel(s, control)) s = Status::Ok();  // a cancelled wait is the job cancelled, not failed
  const ProgressSnapshot so_far = control.meter.snapshot();
  if (!s.ok() && so_far.bytes_written == 0 && so_far.bytes_zeroed == 0) {
    // Failed before a byte landed (reflink: 'always' refused, say): leave no
    // destination of ours behind.
    plan.dst.abandon();
  }
  if (!s.ok() || stopped) {
    plan.dst.stop_at(plan.to_dst(resume));
    return finish(control, s.ok() ? Ending::Cancelled : Ending::Failed, s, resume, loop.backend_used());
  }
  s = plan.dst.finish(req.fsync);
  if (!s.ok()) return finish(control, Ending::Failed, s, resume, loop.backend_used());
  loop.release_cache();
  if (req.verify) return verify_copy(req, plan, control, sink, loop.backend_used());
  return finish(control, Ending::Completed, Status::Ok(), plan.src_offset + plan.length, loop.backend_used());
}

}  // namespace blockcopy
