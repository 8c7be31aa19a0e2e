// Image formats through the tool that owns them: for a job on a qcow2 (or
// vmdk, vhdx...) image the engine runs `qemu-nbd` on a private socket and
// speaks NBD to it. The socket is an abstract one (no file to leave behind),
// handed over by socket activation, so it is listening before qemu-nbd starts
// and nothing polls for it. qemu-nbd dies with the thread that started it
// (PR_SET_PDEATHSIG), so a killed caller leaves no server behind either.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "file.h"
#include "nbd_connection.h"
#include "request.h"
#include "status.h"

namespace blockcopy {

class QemuNbd {
 public:
  QemuNbd() = default;
  QemuNbd(const QemuNbd&) = delete;
  QemuNbd& operator=(const QemuNbd&) = delete;
  ~QemuNbd() { stop(); }

  // Serves `path` as `format`, read-only for a source, to up to `connections`
  // clients; `*address` is where to connect.
  // `compress`: a qcow2 written through qemu's compress filter, where each
  // cluster takes one whole write (the server's minimum block says how big).
  Status start(const std::string& path, const std::string& format, bool read_only, bool compress, uint32_t connections,
               Side side, NbdAddress* address);
  // The clients have disconnected: qemu-nbd closes the image (writing out
  // what it caches) and exits by itself, within `timeout`. An exit other than 0 is an error.
  Status wait_for_exit(const NbdTimeout& timeout);
  // Failed or cancelled: SIGTERM, and SIGKILL if that is not enough.
  void stop();
  // What qemu-nbd said on stderr, for an error when the handshake failed.
  std::string complaint();

 private:
  pid_t pid_ = -1;
  Fd stderr_;
  Side side_ = Side::None;
};

// `qemu-img create -f FORMAT PATH SIZE`, run to completion.
Status create_image(const std::string& path, const std::string& format, uint64_t size, Side side);

}  // namespace blockcopy
