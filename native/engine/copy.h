// One whole copy, start to finish: plan, loop, final size, flush.
#pragma once

#include <cstdint>

#include "control.h"
#include "progress.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

enum class Ending { Completed, Cancelled, Failed };

struct CopyOutcome {
  Ending ending = Ending::Failed;
  Status status;            // the failure, when ending is Failed
  uint64_t resume_offset = 0;
  ProgressSnapshot progress;
  const char* backend = "pread";
};

// Runs on whichever thread calls it (the caller's in sync mode, the job's own
// thread in async mode). Never throws. The bandwidth limit is the control's,
// set when it was made from the request.
CopyOutcome run_copy(const CopyRequest& req, CopyControl& control, ProgressSink* sink);

}  // namespace blockcopy
