// The bench's output: a table on the terminal, a JSON file with fixed keys (docs/performance.md
// documents them), and the chart beside it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LivenessSettings, StoreKind } from '../../../lib/registry/index.ts';
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import { storeVersion } from '../../../provision/stores/index.ts';
import { renderChart } from './chart.ts';
import type { BENCH_SCHEMA, Figure } from './figures.ts';

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  mode: 'full' | 'quick';
  startedAt: string;
  durationSeconds: number;
  commit: { sha: string; dirty: boolean } | null;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    kernel: string;
    os: string;
    node: string;
    /** How simulated devices were unplugged: network namespaces (root) or SIGSTOP. */
    simMode: 'namespaces' | 'processes';
  };
  stores: Record<StoreKind, string>;
  liveness: LivenessSettings & { windowsMs: Record<StoreKind, number> };
  scenarios: { id: string; seconds: number; error: string | null }[];
  figures: Figure[];
  notes: string[];
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function commitOfThisTree(): BenchReport['commit'] {
  const sha = git(['rev-parse', 'HEAD']);
  if (!sha) return null;
  // Only code counts: the bench's own output files may differ from the commit.
  const dirty = git(['status', '--porcelain', '--', '.', ':!docs/performance*']);
  return { sha, dirty: Boolean(dirty) };
}

function osName(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export async function describeMachine(simMode: 'namespaces' | 'processes'): Promise<BenchReport['machine']> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: osName(),
    node: process.version,
    simMode,
  };
}

export async function storeVersions(): Promise<Record<StoreKind, string>> {
  const versions = await Promise.all(STORE_KINDS.map(async (k) => (await storeVersion(k)) ?? 'unknown'));
  return Object.fromEntries(STORE_KINDS.map((k, i) => [k, versions[i]!])) as Record<StoreKind, string>;
}

const cell = (f: Figure, x: number) => `${x}${f.unit === 'ms' ? '' : ` ${f.unit}`}`;

/** One line per figure: what, n, p50, p99 (or the reading), the floor ratio and the target. */
export function formatTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    `${f.scenario} ${f.metric}`,
    f.store,
    f.devices === null ? '' : String(f.devices),
    String(f.n),
    f.n > 1 ? cell(f, f.p50) : '',
    f.n > 1 ? cell(f, f.p99) : cell(f, f.value),
    f.ratio === null ? '' : `${f.ratio}x`,
    f.target ? `${f.met ? 'ok  ' : 'MISS'} ${f.target.text}` : '',
  ]);
  const head = [
    'figure (ms unless said)',
    'store',
    'devices',
    'n',
    'p50',
    'p99 / value',
    'vs floor',
    'target',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i >= 2 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Writes NAME.json and NAME.svg into `dir`; returns their paths. */
export async function writeReport(report: BenchReport, dir: string, name: string) {
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, `${name}.json`);
  const svg = path.join(dir, `${name}.svg`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(svg, renderChart(report));
  return { json, svg };
}

const mdCell = (f: Figure, x: number) => `${x}${f.unit === 'ms' ? ' ms' : ` ${f.unit}`}`;

/** The run as Markdown: the machine, the commit, and one table row per figure. */
export function formatMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Run: ${report.mode}, ${report.startedAt}, ${report.durationSeconds} s, commit \`${report.commit?.sha.slice(0, 12) ?? 'unknown'}\`${report.commit?.dirty ? ' (with uncommitted changes)' : ''}.`,
    `Machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}; simulated devices ${m.simMode === 'namespaces' ? 'in network namespaces' : 'as processes (unplug = SIGSTOP)'}.`,
    `Stores: ${Object.entries(report.stores)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}. Liveness windows: ${Object.entries(report.liveness.windowsMs)
      .map(([k, v]) => `${k} ${v / 1000} s`)
      .join(', ')}.`,
    '',
    '| scenario | metric | store | devices | n | p50 | p99 / value | floor | vs floor | target |',
    '|---|---|---|---:|---:|---:|---:|---|---:|---|',
    ...report.figures
      .map((f) =>
        [
          f.scenario,
          f.metric,
          f.store,
          f.devices ?? '',
          f.n,
          f.n > 1 ? mdCell(f, f.p50) : '',
          `**${mdCell(f, f.n > 1 ? f.p99 : f.value)}**`,
          f.floor ? `${f.floor.what}: ${mdCell(f, f.floor.value)}` : '',
          f.ratio === null ? '' : `${f.ratio}x`,
          f.target ? `${f.met ? 'met' : '**missed**'}: ${f.target.text}` : '',
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
  ];
  const failed = report.scenarios.filter((s) => s.error);
  if (failed.length > 0) lines.push('', ...failed.map((s) => `Scenario ${s.id} failed: ${s.error}`));
  if (report.notes.length > 0) lines.push('', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

export const DOC_START = '<!-- bench:start (written by npm run bench -- --docs) -->';
export const DOC_END = '<!-- bench:end -->';

/** Replaces the figures between the markers of a Markdown file with this run's. */
export async function writeIntoDoc(report: BenchReport, file: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const start = text.indexOf(DOC_START);
  const end = text.indexOf(DOC_END);
  if (start < 0 || end < start) throw new Error(`${file} has no ${DOC_START} ... ${DOC_END} section`);
  await writeFile(
    file,
    `${text.slice(0, start + DOC_START.length)}\n${formatMarkdown(report)}${text.slice(end)}`,
  );
}
