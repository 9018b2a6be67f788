// The bench's arithmetic and output, without running a bench: percentiles are measured values, a
// figure's target and floor are applied as documented, and nothing from a figure reaches the SVG or
// the Markdown unescaped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIVENESS } from '../../lib/registry/index.ts';
import { renderChart } from './support/chart.ts';
import { distributionFigure, readingFigure } from './support/figures.ts';
import { describeHops, fromStamps, hopFigures, kitHopsFigure, tailHolder } from './support/hops.ts';
import { type BenchReport, formatMarkdown, formatTable } from './support/report.ts';
import { percentile, summarize } from './support/stats.ts';

describe('bench statistics', () => {
  test('nearest-rank percentiles are samples that were measured', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    const s = summarize(samples);
    assert.deepEqual([s.n, s.p50, s.p99, s.min, s.max], [100, 50, 99, 1, 100]);
    assert.equal(percentile([7], 99), 7);
    assert.equal(summarize([3, 1, 2]).p99, 3);
    assert.throws(() => summarize([]), /no samples/);
  });

  test('a latency is held against its p99; ratio and target follow', () => {
    const f = distributionFigure(
      {
        scenario: 'propagation',
        metric: 'load-update-to-dom',
        store: 'etcd',
        unit: 'ms',
        floor: { what: 'raw', value: 10 },
        target: { max: 50, text: 'p99 <= 50 ms' },
      },
      [...Array.from({ length: 98 }, () => 5), 60, 60], // p99 of 100 samples is the 99th
    );
    assert.equal(f.value, 60);
    assert.equal(f.p50, 5);
    assert.equal(f.ratio, 6);
    assert.equal(f.met, false);
    const r = readingFigure({ scenario: 'footprint', metric: 'agent-rss', store: 'all', unit: 'MB' }, 42.04);
    assert.deepEqual([r.n, r.value, r.met, r.ratio, r.floor], [1, 42, null, null, null]);
  });
});

describe('bench output', () => {
  const hostile = '<script>alert(1)</script>';
  const report: BenchReport = {
    schema: 'fleetkit-bench/1',
    mode: 'quick',
    startedAt: '2026-11-22T00:00:00.000Z',
    durationSeconds: 1,
    commit: { sha: 'abcdef0123456789', dirty: false },
    machine: {
      cpus: 2,
      cpuModel: hostile,
      memoryGiB: 1,
      kernel: 'k',
      os: 'o',
      node: 'v20',
      simMode: 'processes',
    },
    stores: { etcd: '3.4', zookeeper: '3.8', consul: '1.8.7' },
    liveness: { ...DEFAULT_LIVENESS, windowsMs: { etcd: 5000, zookeeper: 5000, consul: 3000 } },
    scenarios: [{ id: 'failure', seconds: 1, error: null }],
    figures: [
      distributionFigure(
        {
          scenario: 'failure',
          metric: hostile,
          store: 'consul',
          unit: 'ms',
          floor: { what: 'window', value: 3000 },
          target: { max: 500, text: 'p99 <= window + 500 ms' },
        },
        [-2500, -1000, 700],
      ),
    ],
    notes: [],
  };

  test('the chart escapes every label and draws detection times shifted by the window', () => {
    const svg = renderChart(report);
    assert.ok(!svg.includes('<script'), 'no markup from a figure in the SVG');
    assert.match(svg, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    // p50 -1000 ms beyond a 3 s window is drawn as 2 s: every coordinate is a finite number.
    const xs = [...svg.matchAll(/\sx[12]?="([^"]+)"/g)].map((m) => Number(m[1]));
    assert.ok(xs.length > 0 && xs.every(Number.isFinite), 'finite coordinates');
  });

  test('the table and the Markdown say when a target is missed', () => {
    assert.match(formatTable(report.figures), /MISS p99 <= window \+ 500 ms/);
    assert.match(formatMarkdown(report), /\*\*missed\*\*: p99 <= window \+ 500 ms/);
  });
});

describe('bench hops', () => {
  const specs = [
    { name: 'store', what: 'write to watch' },
    { name: 'server', what: 'watch to batch' },
    { name: 'page', what: 'batch to DOM' },
  ];

  test('consecutive stamps make hops that add up to the total; a hop may be negative', () => {
    const s = fromStamps(specs, [100, 104, 103, 110]);
    assert.deepEqual(s.hops, { store: 4, server: -1, page: 7 });
    assert.equal(s.total, 10);
    assert.throws(() => fromStamps(specs, [1, 2, 3]), /3 hops need 4 stamps/);
  });

  test('the tail is held by the hop the slowest tenth spends most in, not the one with the largest p50', () => {
    // 90 fast samples spend their time in the page, the 10 slow ones in the store.
    const fast = Array.from({ length: 90 }, () => fromStamps(specs, [0, 1, 2, 10]));
    const slow = Array.from({ length: 10 }, (_, i) => fromStamps(specs, [0, 80 + i, 82 + i, 90 + i]));
    const samples = [...slow.slice(0, 5), ...fast, ...slow.slice(5)];
    const t = tailHolder(specs, samples);
    assert.equal(t.hop, 'store');
    assert.equal(t.tailN, 10);
    assert.equal(t.thresholdMs, 90, 'the smallest total of the slowest tenth');
    assert.equal(t.meanMs, 84.5);
    assert.ok(Math.abs(t.share - 84.5 / 94.5) < 1e-9);
    // One sample: it is its own tail.
    assert.equal(tailHolder(specs, [fromStamps(specs, [0, 1, 5, 6])]).hop, 'server');
    assert.throws(() => tailHolder(specs, []), /no samples/);
  });

  test('one figure per hop, and the kit hops held against 3 x the floor', () => {
    const samples = Array.from({ length: 100 }, (_, i) =>
      fromStamps(specs, [0, 5, 5 + (i % 10), 5 + (i % 10) + 2]),
    );
    const common = {
      scenario: 'propagation' as const,
      store: 'etcd' as const,
      devices: 20,
      unit: 'ms' as const,
    };
    const figures = hopFigures(common, 'load-update', specs, samples);
    assert.deepEqual(
      figures.map((f) => [f.metric, f.n, f.p50, f.p99, f.note]),
      [
        ['load-update-hop-store', 100, 5, 5, 'write to watch'],
        ['load-update-hop-server', 100, 4, 9, 'watch to batch'],
        ['load-update-hop-page', 100, 2, 2, 'batch to DOM'],
      ],
    );
    const floor = { what: 'raw write-to-watch p99', value: 3.5 };
    const kit = kitHopsFigure(
      { ...common, metric: 'load-update-kit-hops', floor },
      ['server', 'page'],
      samples,
    );
    assert.deepEqual([kit.p50, kit.p99, kit.ratio, kit.target?.max, kit.met], [6, 11, 3.1, 10.5, false]);
    assert.match(kit.target!.text, /3 x the raw floor p99/);
    assert.match(kit.note!, /server \+ page/);
    const noFloor = kitHopsFigure({ ...common, metric: 'k', floor: null }, ['page'], samples);
    assert.deepEqual([noFloor.target, noFloor.met, noFloor.value], [null, null, 2]);
  });

  test('the note gives every hop and names the tail', () => {
    const samples = [fromStamps(specs, [0, 1, 2, 3]), fromStamps(specs, [0, 1, 42, 43])];
    assert.equal(
      describeHops(specs, samples),
      'per hop, p50 / p99 ms: store 1 / 1, server 1 / 41, page 1 / 1; the tail (the slowest 1 of 2, totals from 43 ms) is held by server: 95 % of their time (mean 41 ms)',
    );
  });

  test('hop figures stay out of the chart (parts of a latency drawn whole), but not out of the table', () => {
    const samples = [fromStamps(specs, [0, 1, 2, 3])];
    const figures = hopFigures({ scenario: 'config', store: 'all', unit: 'ms' }, 'color', specs, samples);
    const report = {
      schema: 'fleetkit-bench/1',
      mode: 'quick',
      startedAt: 'x',
      durationSeconds: 1,
      commit: null,
      machine: {
        cpus: 2,
        cpuModel: 'c',
        memoryGiB: 1,
        kernel: 'k',
        os: 'o',
        node: 'v20',
        simMode: 'processes',
      },
      stores: { etcd: '', zookeeper: '', consul: '' },
      liveness: { ...DEFAULT_LIVENESS, windowsMs: { etcd: 1, zookeeper: 1, consul: 1 } },
      scenarios: [],
      figures,
      notes: [],
    } satisfies BenchReport;
    assert.ok(!renderChart(report).includes('color-hop-store'));
    assert.match(formatTable(figures), /config color-hop-store/);
  });
});
