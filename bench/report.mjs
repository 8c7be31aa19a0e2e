// Turning samples into a table for the terminal and docs/benchmarks.md, and an SVG chart.
const MB = 1e6;

function fmt(seconds) {
  return seconds === undefined ? '' : seconds < 10 ? seconds.toFixed(3) : seconds.toFixed(1);
}

function mib(bytes) {
  return bytes === null || bytes === undefined ? '' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Markdown table of one scenario: median, min/max, throughput, allocation,
 * what stayed in the page cache (destination, plus the source when it was
 * cold before), ratio to blockcopy's best.
 */
export function table(s) {
  const rows = [
    '| contender | median s | min–max s | MB/s | CPU s | dst allocated | left in cache | × blockcopy best |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of s.contenders) {
    if (!c.stats) {
      rows.push(`| ${c.label} | ${c.skipped ?? c.error ?? 'no result'} | | | | | | |`);
      continue;
    }
    const { min, median, max } = c.stats;
    const ratio = s.bestBlockcopy ? (median / s.bestBlockcopy).toFixed(2) : '';
    const note = c.note ? ` (${c.note})` : '';
    rows.push(
      `| ${c.label}${note} | ${fmt(median)} | ${fmt(min)}–${fmt(max)} | ${(s.size / median / MB).toFixed(0)} | ${c.cpu ? fmt(c.cpu.median) : ''} | ${mib(c.allocated)} | ${mib(c.cachedAfter)} | ${ratio} |`,
    );
  }
  return rows.join('\n');
}

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel per scenario: a bar per contender at its median throughput, whiskers from slowest to fastest run. */
export function svg(results) {
  const width = 900;
  const labelWidth = 300;
  const barArea = width - labelWidth - 90;
  const rowHeight = 18;
  let y = 30;
  const parts = [];
  const title = `blockcopy benchmark, ${results.machine.date.slice(0, 10)}: ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}, ${results.machine.filesystem}${results.quick ? ' (quick run)' : ''}`;
  parts.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const s of results.scenarios) {
    const measured = s.contenders.filter((c) => c.stats);
    if (measured.length === 0) continue;
    y += 16;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(s.title)} — MB/s, higher is better</text>`);
    y += 8;
    const fastest = Math.max(...measured.map((c) => s.size / c.stats.min / MB));
    for (const c of measured) {
      const median = s.size / c.stats.median / MB;
      const lo = s.size / c.stats.max / MB;
      const hi = s.size / c.stats.min / MB;
      const x = (v) => labelWidth + (v / fastest) * barArea;
      const colour = c.reference ? '#999' : c.family === 'blockcopy' ? '#2b6cb0' : '#dd8a2c';
      parts.push(`<text x="${labelWidth - 6}" y="${y + 13}" font-size="11" text-anchor="end">${esc(c.label)}</text>`);
      parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${(x(median) - labelWidth).toFixed(1)}" height="12" fill="${colour}"/>`);
      parts.push(`<line x1="${x(lo).toFixed(1)}" x2="${x(hi).toFixed(1)}" y1="${y + 9}" y2="${y + 9}" stroke="#000" stroke-width="1"/>`);
      parts.push(`<text x="${(x(hi) + 4).toFixed(1)}" y="${y + 13}" font-size="11">${median.toFixed(0)}</text>`);
      y += rowHeight;
    }
    const missing = s.contenders.filter((c) => !c.stats);
    for (const c of missing) {
      parts.push(`<text x="${labelWidth - 6}" y="${y + 13}" font-size="11" text-anchor="end" fill="#888">${esc(c.label)}</text>`);
      parts.push(`<text x="${labelWidth}" y="${y + 13}" font-size="11" fill="#888">${esc(c.skipped ?? c.error ?? '')}</text>`);
      y += rowHeight;
    }
  }
  y += 20;
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">bar: median of ${results.runs} interleaved runs; whisker: slowest to fastest run. blue: blockcopy, orange: other tools, grey: fio reference.</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
