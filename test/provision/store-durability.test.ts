// Stores that do not wait on the disk (tests, the demo, the bench) and stores that do (`fleetkit
// stores` by default): the option is on the launched process (its arguments, its config, where its
// state lives), it shows in what the process does (no fsync-family syscall while it acknowledges
// writes, seen by strace when it is installed), and a store killed and restarted keeps its data.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createRegistry, STORE_KINDS } from '../../lib/registry/index.ts';
import {
  memoryRoot,
  type StoreProcess,
  startCluster,
  startStore,
  stopAllStores,
} from '../../provision/stores/index.ts';
import { FLEETKIT } from '../support/agents.ts';
import { delay, eventually } from '../support/eventually.ts';

after(() => stopAllStores());

const TMPFS_MAGIC = 0x01021994;
const hasStrace = (() => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function cmdline(pid: number): Promise<string[]> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').then((text) => text.split('\0').filter(Boolean));
}

/** The store's state dir as launched: etcd --data-dir, Consul -data-dir, ZooKeeper zoo.cfg's dataDir. */
async function stateDirOf(store: StoreProcess): Promise<string> {
  const args = await cmdline(store.pid!);
  if (store.kind === 'zookeeper') {
    const cfg = await readFile(path.join(store.dataDir, 'zoo.cfg'), 'utf8');
    return /^dataDir=(.*)$/m.exec(cfg)?.[1] ?? '';
  }
  const flag = store.kind === 'etcd' ? '--data-dir=' : '-data-dir=';
  return args.find((arg) => arg.startsWith(flag))?.slice(flag.length) ?? '';
}

async function onTmpfs(dir: string): Promise<boolean> {
  return (await statfs(dir)).type === TMPFS_MAGIC;
}

/** fsync-family syscalls of the store's process (every thread) while it acknowledges `writes` writes. */
async function syncCallsDuring(store: StoreProcess, writes: number): Promise<number> {
  const strace = spawn('strace', ['-f', '-qq', '-c', '-e', 'trace=fsync,fdatasync', '-p', String(store.pid)]);
  let report = '';
  strace.stderr.on('data', (chunk) => (report += chunk));
  await delay(1_500); // attached to every thread
  const registry = createRegistry({ store: store.kind, endpoints: store.endpoints });
  try {
    for (let i = 0; i < writes; i++) await registry.setConfig('durability', `w${i}`);
  } finally {
    await registry.close();
  }
  await delay(300);
  strace.kill('SIGINT');
  await new Promise((resolve) => strace.once('close', resolve));
  let calls = 0;
  for (const line of report.split('\n')) {
    const cells = line.trim().split(/\s+/);
    const name = cells.at(-1);
    if (name === 'fsync' || name === 'fdatasync') calls += Number(cells[3]);
  }
  return calls;
}

async function assertLaunchedNoFsync(store: StoreProcess): Promise<void> {
  const args = await cmdline(store.pid!);
  assert.equal(store.durability.durable, false, `${store.kind}: ${store.durability.how}`);
  if (store.kind === 'etcd') assert.ok(args.includes('--unsafe-no-fsync'), args.join(' '));
  if (store.kind === 'zookeeper') {
    const cfg = await readFile(path.join(store.dataDir, 'zoo.cfg'), 'utf8');
    assert.match(cfg, /^forceSync=no$/m);
  }
  if (store.kind === 'consul') {
    const state = await stateDirOf(store);
    if (await memoryRoot()) {
      assert.ok(await onTmpfs(state), `consul's -data-dir ${state} is on a tmpfs`);
      assert.ok(existsSync(path.join(state, 'raft')), 'its raft log is there');
      assert.ok(!existsSync(path.join(store.dataDir, 'raft')), 'and not in the data dir on disk');
      assert.match(store.durability.how, /tmpfs/);
    } else {
      assert.match(store.durability.how, /no writable tmpfs/);
    }
  }
}

for (const kind of STORE_KINDS) {
  test(`${kind}: started without durability (the tests' default), no fsync, and a kill -9 + restart keeps the data`, {
    // Measured 3.6-5.1 s alone (load average 7).
    timeout: 15_000,
  }, async () => {
    const store = await startStore(kind);
    try {
      await assertLaunchedNoFsync(store);
      if (hasStrace && kind !== 'consul') {
        // Consul's BoltDB still calls fdatasync: on a tmpfs that is a no-op, hence the check above.
        assert.equal(await syncCallsDuring(store, 20), 0, `${kind}: no fsync while acknowledging 20 writes`);
      }
      const registry = createRegistry({ store: kind, endpoints: store.endpoints });
      await registry.setConfig('kept', 'across-kill');
      await registry.close();
      await store.kill('SIGKILL');
      await store.restart();
      await assertLaunchedNoFsync(store);
      const again = createRegistry({ store: kind, endpoints: store.endpoints });
      try {
        // The restarted store reloads its state; Consul may take a moment to elect itself again.
        await eventually(
          `${kind} still has the value written before the kill`,
          async () => (await again.getConfig('kept').catch(() => undefined)) === 'across-kill',
          { timeoutMs: 10_000 },
        );
      } finally {
        await again.close();
      }
    } finally {
      const state = await stateDirOf(store).catch(() => '');
      await store.stop({ removeData: true });
      if (kind === 'consul' && state) assert.ok(!existsSync(state), 'its tmpfs dir is removed with the data');
    }
  });
}

test('durable: true (what `fleetkit stores` runs): no no-fsync option, state on the data dir, fsync seen', {
  timeout: 30_000, // measured 9.2 s
}, async () => {
  const stores = await Promise.all(STORE_KINDS.map((kind) => startStore(kind, { durable: true })));
  try {
    for (const store of stores) {
      assert.equal(store.durability.durable, true, store.durability.how);
      const args = await cmdline(store.pid!);
      assert.ok(!args.some((arg) => arg.includes('no-fsync')), args.join(' '));
      if (store.kind === 'zookeeper')
        assert.doesNotMatch(await readFile(path.join(store.dataDir, 'zoo.cfg'), 'utf8'), /forceSync/);
      assert.equal(await stateDirOf(store), store.dataDir, `${store.kind} keeps its state in its data dir`);
      if (hasStrace) assert.ok((await syncCallsDuring(store, 5)) >= 5, `${store.kind} fsyncs each write`);
    }
  } finally {
    await Promise.all(stores.map((store) => store.stop({ removeData: true })));
  }
});

/** `fleetkit stores` in the foreground until ready; the etcd it started found by its data dir. */
async function runStores(dataDir: string, extra: string[]) {
  const child: ChildProcess = spawn(
    process.execPath,
    [FLEETKIT, 'stores', '--data-dir', dataDir, '--listen', '127.0.0.1', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(`the stores are ready (${output.slice(-600)})`, () => /^ready:/m.test(output), {
    timeoutMs: 40_000,
  });
  return {
    output,
    stop: () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/** The args of the running process whose command line includes `needle`. */
async function processWith(needle: string): Promise<string[] | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = await cmdline(Number(entry)).catch(() => []);
    if (args.some((arg) => arg.includes(needle))) return args;
  }
  return undefined;
}

test('`fleetkit stores` is durable by default; --no-fsync (FLEET_STORES_NO_FSYNC) turns it off, said in its output', {
  timeout: 80_000, // measured 26 s for the two runs
}, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'fleetkit-durability-'));
  try {
    const durable = await runStores(dataDir, []);
    try {
      assert.match(durable.output, /durable: each write on the disk before it is acknowledged/);
      for (const kind of STORE_KINDS)
        assert.match(durable.output, new RegExp(`^\\s+${kind}\\s+.*\\(durable: `, 'm'));
      const etcd = await processWith(`--data-dir=${path.join(dataDir, 'etcd')}`);
      assert.ok(etcd && !etcd.includes('--unsafe-no-fsync'), etcd?.join(' '));
      const cfg = await readFile(path.join(dataDir, 'zookeeper', 'zoo.cfg'), 'utf8');
      assert.doesNotMatch(cfg, /forceSync/);
      assert.ok(existsSync(path.join(dataDir, 'consul', 'raft')), "Consul's raft log in the data dir");
    } finally {
      assert.equal(await durable.stop(), 130);
    }
    const fast = await runStores(dataDir, ['--no-fsync']);
    let consulState: string | undefined;
    try {
      assert.match(fast.output, /without waiting on the disk \(--no-fsync\)/);
      for (const kind of STORE_KINDS)
        assert.match(fast.output, new RegExp(`^\\s+${kind}\\s+.*\\(no fsync: `, 'm'));
      const etcd = await processWith(`--data-dir=${path.join(dataDir, 'etcd')}`);
      assert.ok(etcd?.includes('--unsafe-no-fsync'), etcd?.join(' '));
      assert.match(await readFile(path.join(dataDir, 'zookeeper', 'zoo.cfg'), 'utf8'), /^forceSync=no$/m);
      const consul = await processWith(`-config-file=${path.join(dataDir, 'consul')}`);
      const state = consul?.find((arg) => arg.startsWith('-data-dir='))?.slice('-data-dir='.length);
      assert.ok(state, consul?.join(' '));
      consulState = state;
      if (await memoryRoot()) assert.ok(await onTmpfs(state), `${state} on a tmpfs`);
    } finally {
      assert.equal(await fast.stop(), 130);
      // Kept for the next --no-fsync run on that data dir (until reboot): this test's to remove.
      if (consulState?.startsWith('/dev/shm/')) await rm(consulState, { recursive: true, force: true });
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('`fleetkit stores --no-fsync --systemd` is refused: a unit is durable', {
  timeout: 10_000, // measured 2.8 s
}, async () => {
  const child = spawn(process.execPath, [FLEETKIT, 'stores', '--systemd', '--no-fsync'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLEET_STORES_NO_FSYNC: undefined },
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 2, output);
  assert.match(output, /no-fsync/);
  assert.match(output, /not with --systemd/);
});

test('cluster members (the demo with --members 3) run without fsync too, and one killed and restarted rejoins with its data', {
  timeout: 45_000, // measured 13.9 s for the three clusters
}, async () => {
  for (const kind of STORE_KINDS) {
    const cluster = await startCluster(kind, { members: 3 });
    try {
      for (const member of cluster.members) await assertLaunchedNoFsync(member);
      const writer = createRegistry({ store: kind, endpoints: cluster.endpoints });
      await writer.setConfig('kept', `cluster-${kind}`);
      await writer.close();
      const [first] = cluster.members;
      assert.ok(first);
      await first.kill('SIGKILL');
      await first.restart();
      await assertLaunchedNoFsync(first);
      // Read through the restarted member alone.
      const reader = createRegistry({ store: kind, endpoints: first.endpoints });
      try {
        await eventually(
          `${kind}: the restarted member answers with the value`,
          async () => (await reader.getConfig('kept').catch(() => undefined)) === `cluster-${kind}`,
          { timeoutMs: 15_000 },
        );
      } finally {
        await reader.close();
      }
    } finally {
      await cluster.stop({ removeData: true });
    }
  }
});
