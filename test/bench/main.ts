// `npm run bench`: every scenario against real stores, real agents (or many devices in a few
// processes, for scale), the real server and the page in headless Chromium. Prints a table, writes
// the figures as JSON (keys documented in docs/performance.md) and an SVG chart of the latencies.
//   --quick          fewer trials and devices (under 3 minutes), for development
//   --only a,b       only these scenarios (floor is always measured first, as the others' reference)
//   --out DIR        where bench.json and bench.svg go (default .cache/bench)
//   --docs           the run for the docs: writes into docs/performance/ and docs/performance.md's table
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onShutdown } from '../../lib/cli/shutdown.ts';
import type { StoreKind } from '../../lib/registry/index.ts';
import { DEFAULT_LIVENESS, livenessWindowMs, STORE_KINDS } from '../../lib/registry/index.ts';
import { SimFleet } from '../../provision/sim/fleet.ts';
import { releaseNamespaces } from '../../provision/sim/netns.ts';
import { stopAllStores } from '../../provision/stores/index.ts';
import { audienceScenario } from './scenarios/audience.ts';
import { classroomScenario } from './scenarios/classroom.ts';
import { coldStartScenario } from './scenarios/coldstart.ts';
import { configScenario } from './scenarios/config.ts';
import { emulatedScenario } from './scenarios/emulated.ts';
import { failureScenario } from './scenarios/failure.ts';
import { floorScenario } from './scenarios/floor.ts';
import { footprintScenario } from './scenarios/footprint.ts';
import { propagationScenario } from './scenarios/propagation.ts';
import { scaleScenario } from './scenarios/scale.ts';
import type { BenchContext, Scenario } from './support/context.ts';
import { BENCH_SCHEMA, type Figure } from './support/figures.ts';
import { type FleetSession, startFleetSession } from './support/fleet-session.ts';
import {
  type BenchReport,
  commitOfThisTree,
  describeMachine,
  formatTable,
  storeVersions,
  writeIntoDoc,
  writeReport,
} from './support/report.ts';
import { storesDurabilityNote } from './support/stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCENARIOS: readonly Scenario[] = [
  floorScenario,
  propagationScenario,
  failureScenario,
  configScenario,
  footprintScenario,
  scaleScenario,
  coldStartScenario,
  classroomScenario,
  audienceScenario,
  emulatedScenario,
];

function parse(argv: string[]) {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        out: { type: 'string' },
        docs: { type: 'boolean', default: false },
      },
    });
    const known = SCENARIOS.map((s) => s.id as string);
    const only = values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = only?.filter((id) => !known.includes(id)) ?? [];
    if (unknown.length > 0)
      throw new Error(
        `--only: unknown scenario ${unknown.join(', ')} (expected some of ${known.join(', ')})`,
      );
    const docs = values.docs ?? false;
    const out = path.resolve(ROOT, values.out ?? (docs ? 'docs/performance' : '.cache/bench'));
    return { quick: values.quick ?? false, only, out, docs };
  } catch (error) {
    console.error(`bench: ${(error as Error).message.split('\n')[0]}`);
    console.error('usage: npm run bench -- [--quick] [--only floor,propagation,...] [--out DIR] [--docs]');
    process.exit(2);
  }
}

const options = parse(process.argv.slice(2));
const say = (line: string) => process.stdout.write(`${line}\n`);
const startedAt = new Date();
// The code this run measures: read before it starts (files edited during a run do not count).
const commit = commitOfThisTree();
const simMode = SimFleet.resolveMode('auto');
const liveness = { ...DEFAULT_LIVENESS };
const figures: Figure[] = [];
const notes: string[] = [];
let session: FleetSession | undefined;

const releaseFleet = async () => {
  const current = session;
  session = undefined;
  await current?.stop();
};
onShutdown(async () => {
  say('bench: stopping the fleet, the page and the stores...');
  await releaseFleet().catch(() => undefined);
  await stopAllStores();
  if (simMode === 'namespaces') await releaseNamespaces();
});

const ctx: BenchContext = {
  quick: options.quick,
  simMode,
  liveness,
  log: say,
  record: (figure) => figures.push(figure),
  note: (text) => notes.push(text),
  floor: {},
  async fleet(devices) {
    if (session?.devices === devices) return session;
    await releaseFleet();
    say(`  starting the stores, the page and ${devices} simulated devices`);
    session = await startFleetSession({ devices, simMode, liveness, log: say });
    return session;
  },
  releaseFleet,
};

const plan = SCENARIOS.filter((s) => s.id === 'floor' || !options.only || options.only.includes(s.id));
const ran: BenchReport['scenarios'] = [];
say(
  `fleetkit bench (${options.quick ? 'quick' : 'full'}): ${plan.map((s) => s.id).join(', ')}; devices ${simMode === 'namespaces' ? 'in network namespaces (root)' : 'as processes (no root: unplug = SIGSTOP)'}`,
);
for (const [i, scenario] of plan.entries()) {
  say(`\n[${i + 1}/${plan.length}] ${scenario.title}`);
  const t0 = Date.now();
  let error: string | null = null;
  try {
    await scenario.run(ctx);
  } catch (e) {
    error = (e as Error).message;
    say(`  FAILED: ${error}`);
  }
  ran.push({ id: scenario.id, seconds: Math.round((Date.now() - t0) / 100) / 10, error });
  say(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
await releaseFleet();
await stopAllStores();
const durabilityNote = storesDurabilityNote();
if (durabilityNote) notes.push(durabilityNote);

const report: BenchReport = {
  schema: BENCH_SCHEMA,
  mode: options.quick ? 'quick' : 'full',
  startedAt: startedAt.toISOString(),
  durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
  commit,
  machine: await describeMachine(simMode),
  stores: await storeVersions(),
  liveness: {
    ...liveness,
    windowsMs: Object.fromEntries(STORE_KINDS.map((k) => [k, livenessWindowMs(k, liveness)])) as Record<
      StoreKind,
      number
    >,
  },
  scenarios: ran,
  figures,
  notes,
};
const files = await writeReport(report, options.out, 'bench');
if (options.docs) await writeIntoDoc(report, path.join(ROOT, 'docs/performance.md'));
say(`\n${formatTable(figures)}\n`);
for (const n of notes) say(`note: ${n}`);
const missed = figures.filter((f) => f.met === false);
const failed = ran.filter((r) => r.error);
say(
  `\n${figures.length} figures in ${report.durationSeconds} s; ${missed.length} target(s) missed; ${failed.length} scenario(s) failed`,
);
say(`written: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.svg)}`);
// Missed targets are results, not errors; a scenario that could not run is.
process.exit(failed.length > 0 ? 1 : 0);
