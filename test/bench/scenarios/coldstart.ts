// Cold start: `npm run demo` (dependencies installed) until the page shows every device in all three
// columns. Its floor, measured in the same run: the three stores alone, started until they answer.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import { launchBrowser } from '../../support/browser.ts';
import { delay, eventually } from '../../support/eventually.ts';
import { freePort } from '../../support/ports.ts';
import { startThreeStores } from '../../support/stores.ts';
import { now } from '../support/clock.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import { PageProbe } from '../support/page-probe.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DEVICES = 6; // what `npm run demo` starts

async function storesAlone(): Promise<number> {
  const t0 = now();
  const stores = await startThreeStores();
  const took = now() - t0;
  await stores.stop();
  return took;
}

async function coldStart(): Promise<number> {
  const browser = await launchBrowser(); // a browser already open, as on the presenter's laptop
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const t0 = now();
  const demo = spawn('npm', ['run', '--silent', 'demo', '--', '--port', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEET_LOG_LEVEL: 'warn' },
    detached: true, // its own process group: Ctrl-C reaches npm, its shell and the demo
  });
  let output = '';
  demo.stdout?.on('data', (d) => (output += d));
  demo.stderr?.on('data', (d) => (output += d));
  const exited = once(demo, 'exit');
  try {
    await eventually(
      `the demo's page on ${url}`,
      async () => {
        if (demo.exitCode !== null) throw new Error(`npm run demo exited early: ${output.slice(-600)}`);
        return (await fetch(`${url}healthz`).catch(() => undefined))?.ok;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    const probe = await PageProbe.attach(page);
    const names = STORE_KINDS.map((store) => `cold-${store}`);
    await probe.watch(STORE_KINDS.map((store, i) => [names[i]!, { kind: 'count', store, count: DEVICES }]));
    const seen = await probe.waitFor(names, 60_000);
    return Math.max(...seen.values()) - t0;
  } finally {
    await browser.close().catch(() => undefined);
    if (demo.pid && demo.exitCode === null) process.kill(-demo.pid, 'SIGINT');
    const timer = setTimeout(() => demo.pid && process.kill(-demo.pid, 'SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    await delay(500);
  }
}

export const coldStartScenario: Scenario = {
  id: 'coldstart',
  title: 'cold start: `npm run demo` until the page shows the devices in all three columns',
  async run(ctx: BenchContext) {
    await ctx.releaseFleet();
    const runs = ctx.quick ? 1 : 3;
    const floors: number[] = [];
    const starts: number[] = [];
    for (let i = 0; i < runs; i++) {
      floors.push(await storesAlone());
      const took = await coldStart();
      starts.push(took);
      ctx.log(
        `  run ${i + 1}/${runs}: ${(took / 1000).toFixed(1)} s (the stores alone: ${(floors[i]! / 1000).toFixed(1)} s)`,
      );
    }
    const floor = floors.reduce((a, b) => a + b, 0) / floors.length;
    ctx.record(
      distributionFigure(
        {
          scenario: 'coldstart',
          metric: 'npm-run-demo-to-devices-on-page',
          store: 'all',
          devices: DEVICES,
          unit: 'ms',
          floor: { what: 'the three stores alone, started until they answer (mean)', value: floor },
          target: { max: 20_000, text: '<= 20 s' },
          note: `${runs} run(s); from spawning npm to ${DEVICES} tiles in every column`,
        },
        starts,
      ),
    );
  },
};
