#include "copy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "backend.h"
#include "copy_loop.h"
#include "copy_plan.h"

namespace blockcopy {

static Status current_size(int fd, uint64_t* size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::Sys(errno, "fstat", Side::Destination);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

// Holes skipped at the end of the range leave a regular file short: give it its
// final size (or cut it there when truncating).
static Status size_destination(const CopyPlan& plan, uint64_t end, bool cut) {
  if (plan.is_device()) return Status::Ok();
  uint64_t size = 0;
  Status s = current_size(plan.dst.get(), &size);
  if (!s.ok()) return s;
  if (size == end || (size > end && !cut)) return Status::Ok();
  if (ftruncate(plan.dst.get(), static_cast<off_t>(end)) != 0)
    return Status::Sys(errno, "ftruncate", Side::Destination);
  return Status::Ok();
}

static Status flush(int fd, SyncMode mode) {
  if (mode == SyncMode::None) return Status::Ok();
  const bool data_only = mode == SyncMode::Data;
  if ((data_only ? fdatasync(fd) : fsync(fd)) != 0)
    return Status::Sys(errno, data_only ? "fdatasync" : "fsync", Side::Destination);
  return Status::Ok();
}

static CopyOutcome finish(JobControl& control, Ending ending, Status status, uint64_t resume,
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

CopyOutcome run_copy(const CopyRequest& req, JobControl& control, ProgressSink* sink) {
  if (control.is_cancelled()) return finish(control, Ending::Cancelled, Status::Ok(), req.src_offset);

  CopyPlan plan;
  Status s = prepare_copy(req, &plan);
  if (!s.ok()) return finish(control, Ending::Failed, s, req.src_offset);
  BackendPlan backend;
  s = choose_backend(req, plan, &backend);
  if (!s.ok()) {
    abandon_copy(req, &plan);
    return finish(control, Ending::Failed, s, req.src_offset);
  }

  CopyLoop loop(plan, req, backend, control, sink);
  s = loop.run();
  const uint64_t resume = loop.resume_offset();
  if (!s.ok() && control.meter.snapshot().bytes_written == 0) {
    // Failed before a byte landed (reflink: 'always' refused, say): leave no
    // destination of ours behind.
    abandon_copy(req, &plan);
  }
  if (!s.ok() || loop.stopped()) {
    // The prefix below resume_offset must read back right even where its last
    // part was a skipped hole, so the file is made at least that long.
    if (plan.dst.valid()) size_destination(plan, plan.to_dst(resume), false);
    return finish(control, s.ok() ? Ending::Cancelled : Ending::Failed, s, resume, loop.backend_used());
  }
  s = size_destination(plan, plan.dst_end(), plan.cut_to_end);
  if (s.ok()) s = flush(plan.dst.get(), req.fsync);
  if (!s.ok()) return finish(control, Ending::Failed, s, resume, loop.backend_used());
  return finish(control, Ending::Completed, Status::Ok(), plan.src_offset + plan.length, loop.backend_used());
}

}  // namespace blockcopy
