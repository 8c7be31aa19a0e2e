// npm run bench [-- --quick] [--runs N] [--only id,id] : side-by-side copy benchmarks,
// 5 interleaved runs per contender (3 with --quick).
// Results: bench/results/<full|quick>-latest.json and .svg, and a table on stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarize, timeOnce } from './measure.mjs';
import { svg, table } from './report.mjs';
import { scenarios } from './scenarios.mjs';
import { allocatedBytes, cachedBytes, dropCaches, machine, readWhole, syncAll } from './system.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
  },
});
const quick = values.quick;
// Contenders often land within 10% of each other on this noisy machine; fewer runs cannot tell them apart.
const runs = Math.max(1, Number(values.runs ?? (quick ? 3 : 5)));
const only = values.only ? new Set(values.only.split(',')) : null;
const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'blockcopy-bench-'));
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

let canDropCaches;
function coldCacheNote() {
  canDropCaches ??= dropCaches();
  return canDropCaches ? null : 'could not drop the page cache (needs root outside a container): "cold" runs were warm';
}

async function race(scenario) {
  const notes = [];
  const src = path.join(work, scenario.file);
  const dst = path.join(work, 'dst.img');
  if (!fs.existsSync(src) || (scenario.sizeOnDisk !== false && fs.statSync(src).size !== scenario.size)) {
    process.stdout.write(`  preparing ${scenario.file}...\n`);
    scenario.make(src);
  }
  const entries = scenario.contenders.map((c) => {
    const ok = c.available();
    return { c, label: c.label, family: c.family, reference: c.reference, note: c.note, samples: [], skipped: ok === true ? undefined : ok };
  });
  // A scenario with a target of its own (an NBD server) copies there, not to a file.
  const server = scenario.target ? await scenario.target() : undefined;
  if (scenario.target && !server) for (const e of entries) e.skipped ??= 'the target server is not installed (nbdkit)';
  const target = server?.uri ?? dst;
  const live = entries.filter((e) => !e.skipped);
  if (server && live.length) {
    await live[0].c.run(src, target, { size: scenario.size, timeoutMs: 0 }); // the server allocates its memory once, untimed
    notes.push('the NBD export was filled once before the timed runs (its server allocates memory on first write)');
  }
  if (scenario.cache === 'cold') {
    const note = coldCacheNote();
    if (note) notes.push(note);
  }
  for (let round = 0; round < runs; round++) {
    for (const e of rotate(live, round)) {
      if (e.error || e.samples.length >= (e.c.maxRuns ?? Infinity)) continue;
      fs.rmSync(dst, { force: true });
      syncAll();
      await pause(200); // let the disk settle after the delete and sync
      if (scenario.cache === 'cold' && canDropCaches) dropCaches();
      else readWhole(src);
      let extra;
      try {
        let seconds = await timeOnce(e.c.id, async () => {
          extra = await e.c.run(src, target, { size: scenario.size, timeoutMs: scenario.timeoutMs ?? 0 });
        });
        if (extra?.simulatedSeconds) seconds = extra.simulatedSeconds;
        e.samples.push(seconds);
        e.allocated = allocatedBytes(dst);
        // What the run left in the page cache: the destination, and a source that was cold before.
        const cached = [cachedBytes(dst), scenario.cache === 'cold' ? cachedBytes(src) : 0];
        if (!cached.includes(null)) (e.cached ??= []).push(cached[0] + cached[1]);
        if (extra?.backend) e.backend = extra.backend;
        if (extra?.cpuSeconds !== undefined) (e.cpu ??= []).push(extra.cpuSeconds);
        process.stdout.write(`  ${e.label}: ${seconds.toFixed(3)} s\n`);
      } catch (err) {
        e.error = err.timedOut ? `gave up: ${err.message}` : `failed: ${err.message.split('\n')[0].slice(0, 160)}`;
        process.stdout.write(`  ${e.label}: ${e.error}\n`);
      }
    }
  }
  fs.rmSync(dst, { force: true });
  await server?.close();
  const contenders = entries.map(({ c, samples, cpu, cached, ...rest }) => ({
    ...rest,
    ...(cpu ? { cpu: summarize(cpu) } : {}),
    ...(cached ? { cachedAfter: summarize(cached).median } : {}),
    ...(rest.backend ? { label: `${rest.label} [${rest.backend}]` } : {}),
    samples,
    stats: summarize(samples),
  }));
  const ours = contenders.filter((c) => c.family === 'blockcopy' && c.stats);
  const bestBlockcopy = ours.length ? Math.min(...ours.map((c) => c.stats.median)) : null;
  return { id: scenario.id, title: scenario.title, size: scenario.size, cache: scenario.cache, notes, bestBlockcopy, contenders };
}

const results = { machine: machine(work), quick, runs, scenarios: [] };
console.log(`blockcopy benchmark${quick ? ' (quick)' : ''}: ${runs} interleaved runs per contender, in ${work}`);
console.log(JSON.stringify(results.machine));
try {
  for (const scenario of scenarios(quick)) {
    if (only && !only.has(scenario.id)) continue;
    console.log(`\n## ${scenario.title}`);
    const s = await race(scenario);
    results.scenarios.push(s);
    console.log(`\n${table(s)}`);
    for (const note of s.notes) console.log(`\nnote: ${note}`);
    // Files no later scenario uses are removed now, to keep page cache and disk free.
    const later = scenarios(quick).slice(scenarios(quick).findIndex((x) => x.id === scenario.id) + 1);
    if (!later.some((x) => x.file === scenario.file && (!only || only.has(x.id)))) {
      fs.rmSync(path.join(work, scenario.file), { force: true });
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

fs.mkdirSync(resultsDir, { recursive: true });
// A partial run (--only) is kept beside the full one rather than over it.
const base = path.join(resultsDir, `${quick ? 'quick' : 'full'}${only ? `-${[...only].join('-')}` : ''}-latest`);
fs.writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
fs.writeFileSync(`${base}.svg`, svg(results));
console.log(`\nsaved ${path.relative(process.cwd(), base)}.json and .svg`);
