// The bench's arithmetic and output, without running a bench: percentiles are measured values, a
// figure's target and floor are applied as documented, and nothing from a figure reaches the SVG or
// the Markdown unescaped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIVENESS } from '../../lib/registry/index.ts';
import { renderChart } from './support/chart.ts';
import { distributionFigure, readingFigure } from './support/figures.ts';
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
