#include "nbd_target.h"

#include <algorithm>
#include <cerrno>

namespace blockcopy {

Status NbdTarget::open(const Target& target, Side side, bool writable, std::optional<uint64_t> create_size) {
  timeout_.limit = std::chrono::milliseconds(target.nbd_timeout_ms);
  if (target.nbd) return export_.open(*target.nbd, target.connections, side, writable, timeout_);
  if (create_size) {
    Status s = create_image(target.path, target.format, *create_size, side);
    if (!s.ok()) return s;
  }
  server_ = std::make_unique<QemuNbd>();
  NbdAddress address;
  Status s = server_->start(target.path, target.format, !writable, target.compress, target.connections, side, &address);
  if (s.ok()) s = export_.open(address, target.connections, side, writable, timeout_);
  if (!s.ok() && s.err != ENOENT) {
    // The handshake failed because qemu-nbd could not serve the image: say what it said.
    const std::string said = server_->complaint();
    if (!said.empty()) s = Status::Sys(EIO, "open", side, "qemu-nbd could not serve the image: " + said);
  }
  return s;
}

void NbdTarget::describe(FileInfo* info) const {
  info->type = FileType::Nbd;
  info->size = export_.size();
  info->block_size = std::max<uint32_t>({export_.info().preferred_block, export_.info().min_block, 4096});
}

Status NbdTarget::finish() {
  closed_ = true;
  export_.disconnect();
  return server_ ? server_->wait_for_exit(timeout_) : Status::Ok();
}

void NbdTarget::close() {
  if (closed_) return;
  closed_ = true;
  export_.disconnect();
  if (server_) server_->stop();
}

}  // namespace blockcopy
