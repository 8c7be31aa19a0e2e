// Which way the bytes move for one job. The fastest path that honours the
// options wins: reflink, then copy_file_range, then io_uring, then pread.
// An NBD end (either one) always moves by NBD requests.
#pragma once

#include "copy_plan.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

enum class Mover { Pread, IoUring, CopyFileRange, Nbd };

struct BackendPlan {
  bool try_reflink = false;      // share extents first where aligned
  bool reflink_required = false; // reflink: 'always' — no quiet fallback
  Mover mover = Mover::Pread;    // for whatever reflink does not cover
};

Status choose_backend(const CopyRequest& req, const CopyPlan& plan, BackendPlan* out);

const char* mover_name(Mover mover);

// Where the data must pass through our own buffers: io_uring where this
// process may use it, else pread/pwrite. Also where copy_file_range falls back.
Mover user_space_mover();

}  // namespace blockcopy
