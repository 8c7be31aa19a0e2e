#include "image_digest.h"

#include <vector>

#include "block_scan.h"
#include "checksum.h"
#include "worker_pool.h"

namespace blockcopy {

namespace {

// More helpers than this gain nothing: one reader feeds them.
constexpr unsigned kMostHashThreads = 8;

DigestOutcome finish(CopyControl& control, Ending ending, Status status, uint64_t length, Digest digest = {},
                     DigestOutcome out = {}) {
  if (ending == Ending::Failed && ended_by_cancel(status, control)) {
    ending = Ending::Cancelled;
    status = Status::Ok();
  }
  out.ending = ending;
  out.status = std::move(status);
  out.length = length;
  out.digest = digest;
  if (ending == Ending::Completed) control.meter.finish(ProgressMeter::Clock::now());
  out.progress = control.meter.snapshot();
  return out;
}

// The window's blocks, hashed or known zero, into the outer digest in order.
void fold(const ScanWindow& w, const std::vector<Digest>& digests, ImageDigest* image) {
  size_t i = 0;
  while (i < w.blocks()) {
    if (!w.hole[i]) {
      image->add(digests[i++]);
      continue;
    }
    size_t run = i;
    while (run < w.blocks() && w.hole[run] && w.block_length(run) == kDigestBlock) run++;
    if (run > i) {
      image->add_zero_blocks(run - i);
      i = run;
    } else {
      image->add(zero_block_digest(w.block_length(i++)));  // the range's short last block
    }
  }
}

void keep_blocks(const ScanWindow& w, const std::vector<Digest>& digests, const std::vector<uint64_t>& sums, DigestOutcome* out) {
  for (size_t i = 0; i < w.blocks(); i++) {
    out->block_digests.push_back(w.hole[i] ? zero_block_digest(w.block_length(i)) : digests[i]);
    out->block_sums.push_back(w.hole[i] ? 0 : sums[i]);
  }
}

}  // namespace

DigestOutcome run_digest(const DigestRequest& req, CopyControl& control, ProgressSink* sink) {
  CancelScope cancel_scope(control.cancel);
  if (control.cancel.requested()) return finish(control, Ending::Cancelled, Status::Ok(), 0);
  BlockScan scan;
  Status s = scan.open(req.target, req.offset, req.length, "offset", req.blocks);
  if (!s.ok()) return finish(control, Ending::Failed, s, 0);
  control.meter.set_totals(scan.data_bound(), scan.length());

  WorkerPool pool(WorkerPool::threads_for_machine(kMostHashThreads));
  ReportSchedule schedule(control.meter, req.progress_delay_ms, req.progress_interval_ms);
  ImageDigest image;
  ScanWindow windows[2];
  std::vector<Digest> digests(kScanWindowBlocks);
  std::vector<uint64_t> sums(kScanWindowBlocks);
  DigestOutcome kept;
  s = scan.next(&windows[0]);
  for (int cur = 0; s.ok() && windows[cur].length; cur ^= 1) {
    const ScanWindow& w = windows[cur];
    const bool blocks = req.blocks;
    pool.start(w.blocks(), [&w, &digests, &sums, blocks](size_t i) {
      if (w.hole[i]) return;
      digests[i] = block_digest(w.block(i), w.block_length(i));
      if (!blocks) return;
      ImageChecksum sum;
      sum.update(w.start + i * uint64_t{kDigestBlock}, w.block(i), w.block_length(i));
      sums[i] = sum.value();
    });
    // The next window is read while this one is hashed.
    s = control.cancel.requested() ? Status::Ok() : scan.next(&windows[cur ^ 1]);
    pool.wait();
    fold(w, digests, &image);
    if (req.blocks) keep_blocks(w, digests, sums, &kept);
    control.meter.lower_total(scan.data_bound());
    control.meter.add(w.data_bytes, 0, w.length - w.data_bytes);
    control.meter.reach(w.start + w.length);
    schedule.tick(control, sink);
    if (control.cancel.requested()) return finish(control, Ending::Cancelled, Status::Ok(), scan.length());
  }
  if (!s.ok()) return finish(control, Ending::Failed, s, scan.length());
  return finish(control, Ending::Completed, Status::Ok(), scan.length(), image.finish(scan.length()), std::move(kept));
}

}  // namespace blockcopy
