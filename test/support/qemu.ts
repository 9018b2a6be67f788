// The agent bundle run as a Pi runs it, on this x86-64 machine: the official Node build for arm64 or armv7l
// under qemu-user with the unit's node flags (`qemu-aarch64-static -L /usr/aarch64-linux-gnu node --lite-mode
// fleetkit-agent.mjs`),
// called directly (no binfmt_misc). The emulator comes from `npm run stores:install -- qemu`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildAgent } from '../../device/build.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import { type InstanceWatch, type Registry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { installStores } from '../../provision/install-stores.ts';
import { nodeBuild } from '../../provision/node/index.ts';
import { type ArmArch, emulated } from '../../provision/qemu.ts';
import { type RunningAgent, startAgent } from './agents.ts';
import { eventually } from './eventually.ts';
import { StoreWatcher } from './store-views.ts';
import { startThreeStores, type ThreeStores } from './stores.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where the tests unpack the `node` of the kit's cached builds (provision/node/, .cache/node). */
const UNPACKED = path.join(ROOT, '.cache', 'arm-node');

/** A temp folder, removed when this process exits. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ArmNode {
  arch: ArmArch;
  version: string;
  /** The npm package's .tgz, as flash copies it onto the card. */
  tgz: string;
  /** Its bin/node, unpacked here, for qemu-user. */
  node: string;
}

/** qemu-user and the ARM libraries: installed when missing (progress on stderr), a no-op otherwise. */
export async function ensureQemu(): Promise<void> {
  await installStores({ only: ['qemu'], log: (line) => process.stderr.write(`${line}\n`) });
}

/**
 * The Node build `fleetkit flash` puts on a card for `arch` (provision/node: the newest LTS line for arm64,
 * the newest armv7l build, end of life), from .cache/node or fetched into it once; its bin/node unpacked.
 */
export async function armNode(arch: ArmArch): Promise<ArmNode> {
  const build = await nodeBuild(arch, { log: (line) => process.stderr.write(`node ${arch}: ${line}\n`) });
  const dir = path.join(UNPACKED, `${arch}-${build.version}`);
  const node = path.join(dir, 'node');
  if (!(await stat(node).catch(() => undefined))) {
    const staging = await mkdtemp(path.join(tmpdir(), 'fleetkit-arm-node-'));
    try {
      await run('tar', ['-xzf', build.file, '-C', staging, 'package/bin/node'], { timeout: 120_000 });
      await mkdir(dir, { recursive: true });
      await copyFile(path.join(staging, 'package/bin/node'), `${node}.partial`);
      await rename(`${node}.partial`, node);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return { arch, version: build.version, tgz: build.file, node };
}

/** `node -p 'process.version + " " + process.arch'` under the emulator, e.g. "v22.23.5 arm64". */
export async function emulatedNodeVersion(build: ArmNode): Promise<string> {
  const [program, args] = emulated(build.arch, build.node, ['-p', 'process.version + " " + process.arch']);
  const { stdout } = await run(program, args, { timeout: 120_000 });
  return stdout.trim();
}

/** The agent bundle (npm run build:agent's dist/fleetkit-agent.mjs), built once into a temp folder. */
let bundle: Promise<string> | undefined;
export function agentBundle(): Promise<string> {
  bundle ??= tempDir('fleetkit-arm-bundle-').then(async (dir) => {
    const built = await buildAgent(dir);
    return built.file;
  });
  return bundle;
}

/**
 * The bundle under qemu-user with the unit's node flags, in an empty folder (as on a Pi), with the env
 * given (the stores, namespace, device id). Resolves once it spawned; the caller waits for what it needs.
 */
export async function startEmulatedAgent(build: ArmNode, env: Record<string, string>): Promise<RunningAgent> {
  const file = await agentBundle();
  const cwd = await tempDir('fleetkit-arm-pi-');
  const [program, args] = emulated(build.arch, build.node, [...unitNodeFlags(), file]);
  return await startAgent(env, { program, command: args, cwd, waitUntilServing: false });
}

export interface EmulatedSuiteBounds {
  /** From spawn to passing in all three stores. */
  registerMs: number;
  /** From a store's setConfig to the agent's /status showing it. */
  colorMs: number;
  /** From SIGTERM to gone from all three. */
  deregisterMs: number;
}

/**
 * One suite for each architecture (test/device/arm64-agent.test.ts, test/field/armv7-agent.test.ts): the
 * bundle under qemu-user against three real stores registers everywhere, takes a color set through each
 * store, and deregisters everywhere on SIGTERM (exit 143).
 */
export function emulatedAgentSuite(arch: ArmArch, bounds: EmulatedSuiteBounds): void {
  describe(`the agent bundle on ${arch} under qemu-user`, { timeout: 600_000 }, () => {
    let stores: ThreeStores;
    let build: ArmNode;
    let agent: RunningAgent | undefined;
    const watcher = new StoreWatcher(() => stores);
    const namespace = `arm${arch}${process.pid}`;
    let views: Record<StoreKind, InstanceWatch>;
    let clients: Record<StoreKind, Registry>;
    const id = `pi-${arch}`;

    before(async () => {
      await ensureQemu();
      [stores, build] = await Promise.all([startThreeStores(), armNode(arch), agentBundle()]).then(
        ([s, b]) => [s, b] as const,
      );
      ({ views, clients } = watcher.watch(namespace));
    });

    after(async () => {
      agent?.child.kill('SIGKILL');
      await watcher.close();
      await stores?.stop();
    });

    test(`node-linux-${arch} runs here under qemu-user`, async (t) => {
      const started = performance.now();
      const said = await emulatedNodeVersion(build);
      t.diagnostic(`${said} (${build.tgz}), answered in ${Math.round(performance.now() - started)} ms`);
      assert.equal(said, `v${build.version} ${arch === 'arm64' ? 'arm64' : 'arm'}`);
    });

    test(`registers in all three stores within ${bounds.registerMs / 1000} s, takes a color from each store within ${bounds.colorMs / 1000} s`, async (t) => {
      agent = await startEmulatedAgent(build, {
        ...stores.env(),
        FLEET_NAMESPACE: namespace,
        FLEET_DEVICE_ID: id,
        FLEET_LABELS: 'zone=arm',
      });
      const a = agent;
      const passingEverywhere = () => STORE_KINDS.every((k) => views[k].get(id)?.health === 'passing');
      // An agent that exits at start (a node flag, a missing library) fails the test at once, with its words.
      const exitedFirst = a.exited.then(({ code, signal }) => {
        throw new Error(
          `the agent under qemu exited (code ${code}, signal ${signal}) before registering; its stderr: ${a.stderr().slice(-1500)}`,
        );
      });
      exitedFirst.catch(() => undefined);
      await Promise.race([
        eventually(`${id} passing in every store`, passingEverywhere, { timeoutMs: bounds.registerMs }),
        exitedFirst,
      ]);
      const tookMs = Date.now() - a.startedAt;
      t.diagnostic(`registered in all three stores ${tookMs} ms after qemu started`);
      const status = await a.status();
      assert.equal(status.id, id);
      for (const kind of STORE_KINDS) {
        const { record } = views[kind].get(id)!;
        assert.equal(record.port, a.port, kind);
        assert.equal(record.labels.zone, 'arm', kind);
        assert.equal(record.labels.agent, status.version, `${kind}: the agent version is a label`);
      }
      for (const [kind, color] of [
        ['etcd', '#ff8800'],
        ['zookeeper', 'teal'],
        ['consul', '#00ff00'],
      ] as [StoreKind, string][]) {
        const setAt = performance.now();
        await clients[kind].setConfig('color', color);
        await eventually(
          `color ${color} from ${kind} applied`,
          async () => (await a.status()).color === color,
          {
            timeoutMs: bounds.colorMs,
            intervalMs: 20,
          },
        );
        t.diagnostic(`${kind}: color applied ${Math.round(performance.now() - setAt)} ms after it was set`);
        await eventually(
          `${kind} reports the applied color back`,
          () => views[kind].get(id)?.record.color === color,
          { timeoutMs: bounds.colorMs },
        );
      }
    });

    test(`SIGTERM: gone from all three within ${bounds.deregisterMs / 1000} s, exit code 143`, async (t) => {
      const a = agent;
      assert.ok(a, 'the agent of the previous test runs');
      const killedAt = performance.now();
      a.child.kill('SIGTERM');
      await eventually(
        `${id} gone everywhere`,
        () => STORE_KINDS.every((k) => views[k].get(id) === undefined),
        { timeoutMs: bounds.deregisterMs },
      );
      t.diagnostic(`gone from all three ${Math.round(performance.now() - killedAt)} ms after SIGTERM`);
      assert.deepEqual(await a.exited, { code: 143, signal: null });
      agent = undefined;
    });
  });
}
