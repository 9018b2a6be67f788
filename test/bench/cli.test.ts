// `npm run bench` end to end on its smallest scenario (the floor, real stores): it exits 0, and the
// JSON it writes has exactly the keys docs/performance.md documents, with measured, plausible values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIGURE_KEYS = [
  'devices',
  'floor',
  'max',
  'met',
  'metric',
  'n',
  'note',
  'p50',
  'p99',
  'ratio',
  'scenario',
  'store',
  'target',
  'unit',
  'value',
];

test('npm run bench -- --quick --only floor writes the documented JSON and chart', {
  timeout: 120_000,
}, async (t) => {
  const out = await mkdtemp(path.join(tmpdir(), 'fleetkit-bench-'));
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'test/bench/main.ts', '--quick', '--only', 'floor', '--out', out],
    { cwd: ROOT, encoding: 'utf8', timeout: 110_000 },
  );
  assert.equal(run.status, 0, `bench failed:\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /floor raw-write-to-watch\s+etcd/);
  const report = JSON.parse(await readFile(path.join(out, 'bench.json'), 'utf8'));
  assert.deepEqual(Object.keys(report).sort(), [
    'commit',
    'durationSeconds',
    'figures',
    'liveness',
    'machine',
    'mode',
    'notes',
    'scenarios',
    'schema',
    'startedAt',
    'stores',
  ]);
  assert.equal(report.schema, 'fleetkit-bench/1');
  assert.equal(report.mode, 'quick');
  assert.deepEqual(
    report.figures.map((f: { store: string }) => f.store),
    ['etcd', 'zookeeper', 'consul'],
  );
  for (const figure of report.figures) {
    assert.deepEqual(Object.keys(figure).sort(), FIGURE_KEYS);
    assert.equal(figure.n, 60);
    assert.ok(figure.p50 > 0 && figure.p50 <= figure.p99 && figure.p99 <= figure.max, JSON.stringify(figure));
    assert.ok(figure.p99 < 1000, `a loopback write reaches its watcher within a second: ${figure.p99}`);
    t.diagnostic(`${figure.store}: raw write to watch p99 ${figure.p99} ms`);
  }
  assert.match(
    await readFile(path.join(out, 'bench.svg'), 'utf8'),
    /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
  );
  // A bad flag is named, with the usage, and nothing runs.
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'test/bench/main.ts', '--only', 'warp'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--only: unknown scenario warp/);
});
