// Timing one run and summing runs up. Each run is one deferred Benchmark.js
// sample, so the benchmark package does the clock; the runs themselves are
// scheduled by run.mjs, interleaved across contenders (A B C, B C A, ...) so
// that drift on this shared machine hits everyone alike.
import Benchmark from 'benchmark';

/** Runs `fn` once under Benchmark.js and resolves with its time in seconds. */
export function timeOnce(name, fn) {
  return new Promise((resolve, reject) => {
    let failure;
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: 1,
      maxTime: 0,
      initCount: 1,
      delay: 0,
      fn(deferred) {
        Promise.resolve()
          .then(fn)
          .catch((e) => {
            failure = e;
          })
          .finally(() => deferred.resolve());
      },
    });
    bench.on('complete', () => {
      if (failure) reject(failure);
      else resolve(bench.stats.sample[0]);
    });
    bench.on('error', () => reject(bench.error));
    bench.run();
  });
}

export function summarize(seconds) {
  const sorted = [...seconds].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return null;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { runs: n, min: sorted[0], median, max: sorted[n - 1] };
}
