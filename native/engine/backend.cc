#include "backend.h"

#include "uring.h"

namespace blockcopy {

const char* mover_name(Mover mover) {
  switch (mover) {
    case Mover::IoUring: return "io_uring";
    case Mover::CopyFileRange: return "copy_file_range";
    case Mover::Pread: return "pread";
    case Mover::Nbd: return "nbd";
  }
  return "pread";
}

// Zero detection, direct I/O, block devices and a memmove within one file need
// the bytes in our own buffers: the kernel-side paths cannot do them.
static const char* why_user_space(const CopyRequest& req, const CopyPlan& plan) {
  if (req.sparse == SparseMode::Always) return "sparse: 'always' (zero detection)";
  if (req.direct) return "direct I/O";
  if (plan.src.info().type != FileType::Regular || plan.dst.info().type != FileType::Regular) return "a block device";
  if (plan.same) return "a copy within one file";
  return nullptr;
}

Mover user_space_mover() { return io_uring_usable() ? Mover::IoUring : Mover::Pread; }

static Status io_uring_refused() {
  return Status::Sys(io_uring_unusable_errno(), "io_uring_setup", Side::None,
                     "io_uring is not available in this process (old kernel, kernel.io_uring_disabled, "
                     "seccomp, or BLOCKCOPY_DISABLE_IO_URING)");
}

// The JS layer refuses these combinations first (options.ts); this is the engine's own guard.
static Status choose_nbd(const CopyRequest& req, BackendPlan* out) {
  if (req.reflink == ReflinkMode::Always) return Status::Invalid("reflink: 'always' cannot share extents with an NBD target");
  if (req.backend != BackendChoice::Auto) return Status::Invalid("an NBD target is copied with NBD requests: backend must be 'auto'");
  if (req.direct) return Status::Invalid("direct I/O does not apply to an NBD target");
  out->mover = Mover::Nbd;
  return Status::Ok();
}

Status choose_backend(const CopyRequest& req, const CopyPlan& plan, BackendPlan* out) {
  if (plan.src.nbd() || plan.dst.nbd()) return choose_nbd(req, out);
  const char* user_space = why_user_space(req, plan);
  const bool sparse_never = req.sparse == SparseMode::Never;

  out->reflink_required = req.reflink == ReflinkMode::Always;
  out->try_reflink = req.reflink != ReflinkMode::Never && !user_space && !sparse_never;
  if (out->reflink_required && !out->try_reflink)
    return Status::Invalid(std::string("reflink: 'always' cannot share extents with ") +
                           (user_space ? user_space : "sparse: 'never' (which asks for every byte written)"));

  switch (req.backend) {
    case BackendChoice::Pread:
      out->mover = Mover::Pread;
      return Status::Ok();
    case BackendChoice::IoUring:
      if (!io_uring_usable()) return io_uring_refused();
      out->mover = Mover::IoUring;
      return Status::Ok();
    case BackendChoice::CopyFileRange:
      if (user_space) return Status::Invalid(std::string("backend 'copy_file_range' cannot do ") + user_space);
      out->mover = Mover::CopyFileRange;
      return Status::Ok();
    case BackendChoice::Auto:
      out->mover = user_space ? user_space_mover() : Mover::CopyFileRange;
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace blockcopy
