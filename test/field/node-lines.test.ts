// The Node.js policy, run: the agent bundle, the attendee kit and the control host's `fleetkit server`
// on every Node.js LTS line that is current today (the official x64 builds, from the kit's own cache of
// Node builds, provision/node), against real stores. Node 20 (this machine's) runs every other test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildAgent } from '../../device/build.ts';
import { buildKit } from '../../device/kit/build.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import {
  endOfLifeDate,
  ltsStart,
  MIN_NODE_MAJOR,
  type NodeBuild,
  nodeBuild,
  nodeCacheDir,
} from '../../provision/node/index.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { startServer } from '../support/servers.ts';
import { StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const run = promisify(execFile);

/** The LTS lines whose LTS has begun and whose end of life has not come, by Node's schedule. */
function currentLtsLines(now = new Date()): number[] {
  const lines: number[] = [];
  for (let major = MIN_NODE_MAJOR; major <= MIN_NODE_MAJOR + 20; major += 1) {
    const start = ltsStart(major);
    if (start && start <= now && now < endOfLifeDate(major)) lines.push(major);
  }
  return lines;
}

/** The build's bin/node, unpacked once beside the cache (.cache/node/x64-<version>/node). */
async function unpacked(build: NodeBuild): Promise<string> {
  const node = path.join(nodeCacheDir, `${build.arch}-${build.version}`, 'node');
  if (await stat(node).catch(() => undefined)) return node;
  const staging = await mkdtemp(path.join(tmpdir(), 'fleetkit-node-'));
  try {
    await run('tar', ['-xzf', build.file, '-C', staging, 'package/bin/node'], { timeout: 120_000 });
    await mkdir(path.dirname(node), { recursive: true });
    await rename(path.join(staging, 'package', 'bin', 'node'), node);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return node;
}

const LINES = currentLtsLines();

describe(`the kit on the current Node.js LTS lines (${LINES.join(', ')})`, { timeout: 600_000 }, () => {
  let stores: ThreeStores;
  let work: string;
  let agentFile: string;
  let kitFile: string;
  const watcher = new StoreWatcher(() => stores);
  const agents: RunningAgent[] = [];

  before(async () => {
    stores = await startThreeStores();
    work = await mkdtemp(path.join(tmpdir(), 'fleetkit-lines-'));
    agentFile = (await buildAgent(work)).file;
    kitFile = path.join(work, 'fleetkit.mjs');
    await writeFile(kitFile, await buildKit());
  });

  after(async () => {
    for (const agent of agents) agent.child.kill('SIGKILL');
    await watcher.close();
    await stores?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('there is a current LTS line besides the oldest supported one', () => {
    assert.ok(LINES.length > 0 && LINES.every((major) => major >= MIN_NODE_MAJOR), `${LINES}`);
  });

  for (const major of LINES) {
    test(`Node.js ${major}: the agent bundle registers everywhere and deregisters on SIGTERM; the kit and the server start`, async (t) => {
      const build = await nodeBuild('x64', { version: String(major), log: (line) => t.diagnostic(line) });
      const node = await unpacked(build);
      const { stdout } = await run(node, ['--version']);
      assert.equal(stdout.trim(), `v${build.version}`);

      const { namespace, passingEverywhere, absentEverywhere } = watcher.watch(
        `lines${process.pid}n${major}`,
      );
      const id = `node-${major}`;
      const agent = await startAgent(
        { ...stores.env(), FLEET_NAMESPACE: namespace, FLEET_DEVICE_ID: id },
        { program: node, command: [...unitNodeFlags(), agentFile], cwd: work },
      );
      agents.push(agent);
      // 20 s: three times the slowest start seen here (a cold Node with --lite-mode: up to 5 s under load).
      const took = await eventually(`${id} passing in every store`, () => passingEverywhere(id), {
        timeoutMs: 20_000,
      });
      assert.equal((await agent.status()).id, id);
      agent.child.kill('SIGTERM');
      assert.deepEqual(await agent.exited, { code: 143, signal: null }, agent.stderr());
      await eventually('gone from every store', () => absentEverywhere(id), { timeoutMs: 10_000 });

      const kit = await run(node, [kitFile, '--help'], { cwd: work });
      assert.match(kit.stdout, /Usage: node fleetkit\.mjs <command>/);

      const server = await startServer(
        { ...stores.env(), FLEET_NAMESPACE: namespace },
        undefined,
        undefined,
        node,
      );
      try {
        const page = await fetch(server.url);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<html/i);
      } finally {
        await server.stop();
      }
      t.diagnostic(`Node.js ${build.version} (${build.source}): registered everywhere in ${took} ms`);
    });
  }
});
