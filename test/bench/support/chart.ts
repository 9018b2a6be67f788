// The latencies per store as an SVG: one row per measured latency, a bar to its p50 and a whisker to its
// p99 on a log scale, the brief's target as a red tick. Failure detection is drawn as the whole time
// (window included) with the window as a grey tick, so that nothing is negative on a log axis.
import type { Figure } from './figures.ts';
import type { BenchReport } from './report.ts';

const COLORS: Record<string, string> = {
  etcd: '#419eda',
  zookeeper: '#d1882d',
  consul: '#d62783',
  all: '#555555',
};
const MIN_MS = 0.5;
const MAX_MS = 30_000;
const LEFT = 390;
const WIDTH = 1040;
const ROW = 18;
const TOP = 54;

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

function x(ms: number): number {
  const clamped = Math.min(MAX_MS, Math.max(MIN_MS, ms));
  const span = Math.log10(MAX_MS) - Math.log10(MIN_MS);
  return LEFT + ((Math.log10(clamped) - Math.log10(MIN_MS)) / span) * (WIDTH - LEFT - 20);
}

interface Row {
  label: string;
  store: string;
  p50: number;
  p99: number;
  target: number | null;
  window: number | null;
}

function rowOf(f: Figure): Row | undefined {
  // The per-hop figures (support/hops.ts) are parts of a latency drawn whole: in the table only.
  if (f.unit !== 'ms' || f.metric.includes('-hop-')) return undefined;
  const shift = f.metric.endsWith('-beyond-window') && f.floor ? f.floor.value : 0;
  return {
    label: `${f.scenario} ${f.metric}${f.devices ? ` (${f.devices} dev.)` : ''}`,
    store: f.store,
    p50: f.p50 + shift,
    p99: f.p99 + shift,
    target: f.target ? f.target.max + shift : null,
    window: shift || null,
  };
}

export function renderChart(report: BenchReport): string {
  const rows = report.figures.map(rowOf).filter((r): r is Row => r !== undefined);
  const height = TOP + rows.length * ROW + 56;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11" role="img">`,
    `<title>fleetkit latencies per store, ${escapeXml(report.mode)} run ${escapeXml(report.startedAt)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">fleetkit latencies per store: bar = p50, whisker = p99, red tick = target (log scale, ms)</text>`,
    `<text x="10" y="34" fill="#555">${escapeXml(`${report.mode} run ${report.startedAt} · ${report.machine.cpus} cores ${report.machine.cpuModel} · commit ${report.commit?.sha.slice(0, 10) ?? 'unknown'}${report.commit?.dirty ? ' (modified)' : ''}`)}</text>`,
  ];
  for (const ms of [1, 10, 100, 1000, 10_000]) {
    const at = x(ms).toFixed(1);
    out.push(
      `<line x1="${at}" y1="${TOP - 6}" x2="${at}" y2="${TOP + rows.length * ROW}" stroke="#ddd"/>`,
      `<text x="${at}" y="${TOP - 9}" text-anchor="middle" fill="#777">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const color = COLORS[r.store] ?? '#333';
    out.push(
      `<text x="${LEFT - 8}" y="${y + 12}" text-anchor="end">${escapeXml(r.label)} · ${escapeXml(r.store)}</text>`,
      `<rect x="${LEFT}" y="${y + 3}" width="${Math.max(1, x(r.p50) - LEFT).toFixed(1)}" height="${ROW - 6}" fill="${color}"/>`,
      `<line x1="${x(r.p50).toFixed(1)}" y1="${y + ROW / 2}" x2="${x(r.p99).toFixed(1)}" y2="${y + ROW / 2}" stroke="${color}" stroke-width="2"/>`,
      `<line x1="${x(r.p99).toFixed(1)}" y1="${y + 4}" x2="${x(r.p99).toFixed(1)}" y2="${y + ROW - 4}" stroke="${color}" stroke-width="2"/>`,
    );
    if (r.window !== null)
      out.push(
        `<line x1="${x(r.window).toFixed(1)}" y1="${y + 1}" x2="${x(r.window).toFixed(1)}" y2="${y + ROW - 1}" stroke="#888" stroke-width="2"/>`,
      );
    if (r.target !== null)
      out.push(
        `<line x1="${x(r.target).toFixed(1)}" y1="${y + 1}" x2="${x(r.target).toFixed(1)}" y2="${y + ROW - 1}" stroke="#e00" stroke-width="2"/>`,
      );
  });
  const legendY = TOP + rows.length * ROW + 24;
  Object.entries(COLORS).forEach(([store, color], i) => {
    out.push(
      `<rect x="${LEFT + i * 110}" y="${legendY - 9}" width="10" height="10" fill="${color}"/>`,
      `<text x="${LEFT + i * 110 + 14}" y="${legendY}">${store}</text>`,
    );
  });
  out.push(
    `<text x="${LEFT}" y="${legendY + 18}" fill="#555">grey tick: the store's liveness window (failure rows, drawn as the whole detection time)</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
