// The README as a newcomer follows it: its first commands run as printed and
// do what it says, every relative link resolves, and every reference page is
// one click from it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allocated, CLI, MiB, ROOT, scratch, sha256 } from './helpers';

const tmp = scratch('readme');
afterAll(() => tmp.cleanup());

const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');
const pages = [README, ...fs.readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => path.join(DOCS, f))];

/** The lines of the ```sh block that follows the README's first-run marker. */
function firstRunBlock(): string[] {
  const text = fs.readFileSync(README, 'utf8');
  const marker = text.indexOf('<!-- first-run');
  expect(marker, 'the README marks its first commands with <!-- first-run -->').toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(marker));
  return block![1]!.trim().split('\n');
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function headings(file: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (m) out.add(slug(m[1]!));
  }
  return out;
}

/** Every [text](target) outside code, as written. */
function links(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe('the README', () => {
  it('its first commands, run as printed with blockcopy on PATH as `npm link` puts it, copy the image exactly and sparsely', () => {
    const bin = tmp.file('bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'blockcopy'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    const work = tmp.file('work');
    fs.mkdirSync(work);
    const lines = firstRunBlock();
    expect(lines.some((l) => l.startsWith('blockcopy '))).toBe(true);
    const r = spawnSync('bash', ['-e', '-c', lines.join('\n')], {
      cwd: work,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const image = path.join(work, 'disk.img');
    const copy = path.join(work, 'copy.img');
    // cmp in the block compared every byte (bash -e stops at its failure); here, independently, the data.
    expect(lines.some((l) => l.startsWith('cmp disk.img copy.img'))).toBe(true);
    expect(sha256(copy, 1024 * MiB, 64 * MiB)).toBe(sha256(image, 1024 * MiB, 64 * MiB));
    expect(fs.statSync(copy).size).toBe(4 * 1024 * MiB);
    expect(allocated(copy)).toBeLessThanOrEqual(65 * MiB);
    // What the README says the user will see.
    expect(r.stdout).toMatch(/^4\.0G\s+copy\.img$/m);
    expect(r.stdout).toMatch(/^64M\s+copy\.img$/m);
    expect(r.stdout).toMatch(/64\.0 MiB of data in 1 extents/);
  });

  it('is short: under 15 KB, the reference in docs/', () => {
    expect(fs.statSync(README).size).toBeLessThan(15_000);
  });

  it('links every page of docs/ directly', () => {
    const linked = new Set(links(README).map((l) => l.split('#')[0]));
    for (const page of pages.slice(1)) expect(linked, `README links docs/${path.basename(page)}`).toContain(`docs/${path.basename(page)}`);
  });

  it('every relative link in the README and docs/ resolves, to a heading that exists where it names one', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const link of links(page)) {
        if (/^[a-z]+:/.test(link)) continue; // http(s), mailto
        const [file, anchor] = link.split('#') as [string, string | undefined];
        const target = file === '' ? page : path.resolve(path.dirname(page), file);
        if (!fs.existsSync(target)) broken.push(`${path.relative(ROOT, page)}: ${link} (no such file)`);
        else if (anchor && target.endsWith('.md') && !headings(target).has(anchor)) broken.push(`${path.relative(ROOT, page)}: ${link} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
