// Receiving one image from a descriptor (`blockcopy recv < pipe`): the engine
// reads the frames, checks each against the format's rules before any of it
// is written (docs/stream-format.md), and writes the image with an
// ExtentWriter. A one-way stream: nothing is answered.
#pragma once

#include <cstdint>

#include "extent_writer.h"
#include "frame_sender.h"

namespace blockcopy {

struct ReceiveRequest {
  int fd = -1;
  Target target;
  WriterOptions writer;  // range.length comes from the BEGIN frame
  uint32_t progress_interval_ms{};
  uint32_t idle_timeout_ms{};     // a transfer whose sender sends nothing this long fails (0: never)
  uint32_t trailing_grace_ms{};   // after END: how long the input may take to end without more bytes
};

TransferOutcome run_receive(const ReceiveRequest& req, CopyControl& control, ProgressSink* sink);

}  // namespace blockcopy
