#!/usr/bin/env node
// Which RFC 5944 requirement sentences the tests name in their titles ([R3.8.2.1-13]).
// Usage: node scripts/rfc-coverage.mjs [path/to/requirements.tsv] [--missing]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const tsv = args.find((a) => !a.startsWith('--')) ?? new URL('../../shared/spec/requirements.tsv', import.meta.url).pathname;
const requirements = readFileSync(tsv, 'utf8').trim().split('\n').slice(1).map((line) => {
  const [id, section, level] = line.split('\t');
  return { id, section, level };
});

const named = new Set();
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.test.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/\[(R[0-9A-G][0-9.]*-\d+)\]/g)) named.add(m[1]);
  }
};
walk(new URL('../test', import.meta.url).pathname);

const known = new Set(requirements.map((r) => r.id));
const unknown = [...named].filter((id) => !known.has(id));
const byLevel = new Map();
for (const r of requirements) {
  const level = r.level.startsWith('MUST') || r.level.startsWith('SHALL') || r.level === 'REQUIRED' ? 'MUST' : r.level.startsWith('SHOULD') ? 'SHOULD' : 'MAY';
  const entry = byLevel.get(level) ?? { total: 0, covered: 0, missing: [] };
  entry.total++;
  if (named.has(r.id)) entry.covered++;
  else entry.missing.push(`${r.id} (${r.section})`);
  byLevel.set(level, entry);
}
for (const [level, e] of byLevel) console.log(`${level.padEnd(6)} ${e.covered}/${e.total} named by a test`);
if (unknown.length) console.log(`ids named by tests but not in ${tsv}: ${unknown.join(', ')}`);
if (args.includes('--missing')) console.log(`MUSTs not yet named:\n  ${byLevel.get('MUST')?.missing.join('\n  ')}`);
