// `fleetkit pick` as a user runs it (node provision/fleetkit.mjs pick, a real process) against the three
// real stores, with devices registered with loads of our choosing: the least loaded passing device in
// each store, the sentence and the JSON, the pick moving after a load changes (once and --follow), a
// store that is down, round-robin's turns, bad settings; and real agents reporting their own CPU, one
// of them told to carry 80 % (the issue's acceptance: the pick moves).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PickJson } from '../../device/kit/pick.ts';
import { sendStress } from '../../device/stress-message.ts';
import {
  createRegistry,
  type Registration,
  type Registry,
  type RegistryOptions,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { FLEETKIT, type RunningAgent, startAgent } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { loadOf } from '../support/loads.ts';
import { freePort } from '../support/ports.ts';
import { type SecureStores, startSecureStores } from '../support/secure-stores.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** An empty folder to run in: the kit reads ./fleetkit.env where it runs, and there is none here. */
const CWD = mkdtempSync(path.join(tmpdir(), 'fleetkit-pick-'));

/** Only PATH and the FLEET_* settings the test gives: not those of whoever runs the tests. */
function pickEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', ...env };
}

function fleetkitPick(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [FLEETKIT, 'pick', ...args], {
    cwd: CWD,
    env: pickEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as PickJson);

describe('fleetkit pick against the real stores', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  const registries: Registry[] = [];
  const namespace = `pickcli${process.pid}`;
  const env = () => ({ ...stores.env(), FLEET_NAMESPACE: namespace });
  /** Each store's registrations, by id. */
  const devices = new Map<string, Registration>();

  const open = (kind: StoreKind, extra: Partial<RegistryOptions> = {}) => {
    const registry = createRegistry({
      store: kind,
      endpoints: stores[kind].endpoints,
      namespace,
      liveness: { consulCheck: 'ttl', checkTtlSeconds: 30, leaseTtlSeconds: 30, sessionTimeoutMs: 20_000 },
      consulLoadIntervalSeconds: 0,
      ...extra,
    });
    registries.push(registry);
    return registry;
  };
  const register = (registry: Registry, id: string, cpu: number, port: number) =>
    registry.register({
      service: 'web',
      id,
      host: '127.0.0.1',
      port,
      labels: {},
      load: loadOf(cpu),
      color: null,
    });
  const registered = (r: Registration) =>
    eventually(`${r.record.id} registered`, () => r.state === 'registered', { timeoutMs: 10_000 });
  const setLoad = (id: string, cpu: number) =>
    Promise.all(STORE_KINDS.map((kind) => devices.get(`${kind}/${id}`)!.update({ load: loadOf(cpu) })));

  before(async () => {
    stores = await startThreeStores();
    await Promise.all(
      STORE_KINDS.map(async (kind) => {
        const writer = open(kind);
        for (const [id, cpu, port] of [
          ['pk-a', 40, 8101],
          ['pk-b', 8, 8102],
          ['pk-c', 25, 8103],
        ] as const) {
          const registration = register(writer, id, cpu, port);
          devices.set(`${kind}/${id}`, registration);
          await registered(registration);
        }
      }),
    );
    // A dead device with the lowest CPU of all: Consul keeps it as critical, never to be picked.
    await registered(
      register(
        open('consul', { liveness: { consulCheck: 'http', checkIntervalSeconds: 1 } }),
        'pk-dead',
        0,
        await freePort(),
      ),
    );
    const consul = open('consul').watchInstances('web');
    await eventually('pk-dead critical', () => consul.get('pk-dead')?.health === 'critical', {
      timeoutMs: 10_000,
    });
    consul.close();
  });

  after(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await stores?.stop();
    rmSync(CWD, { recursive: true, force: true });
  });

  test('a sentence per store: the least loaded passing device, its address, its CPU and why', async (t) => {
    const run = await fleetkitPick([], env());
    t.diagnostic(`exit ${run.code} in ${run.ms} ms`);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n'), [
      'etcd: pk-b at 127.0.0.1:8102, CPU 8 % (least loaded of 3 passing)',
      'zookeeper: pk-b at 127.0.0.1:8102, CPU 8 % (least loaded of 3 passing)',
      'consul: pk-b at 127.0.0.1:8102, CPU 8 % (least loaded of 3 passing; 1 critical skipped)',
    ]);
  });

  test('--json: one object per store with store, picked, candidates and reason; after a load changes, the pick moves', async (t) => {
    const run = await fleetkitPick(['--json'], env());
    assert.equal(run.code, 0, run.stderr);
    const picks = jsonLines(run.stdout);
    assert.deepEqual(
      picks.map((p) => p.store),
      [...STORE_KINDS],
    );
    for (const p of picks) {
      assert.deepEqual(Object.keys(p), ['store', 'picked', 'candidates', 'reason']);
      assert.deepEqual(p.picked, { id: 'pk-b', host: '127.0.0.1', port: 8102 });
      assert.deepEqual(p.candidates, [
        { id: 'pk-b', cpuPercent: 8 },
        { id: 'pk-c', cpuPercent: 25 },
        { id: 'pk-a', cpuPercent: 40 },
      ]);
      const lowest = Math.min(...p.candidates.map((c) => c.cpuPercent ?? Infinity));
      assert.equal(p.candidates.find((c) => c.id === p.picked?.id)?.cpuPercent, lowest);
    }
    assert.equal(picks[2]!.reason, 'least loaded of 3 passing; 1 critical skipped');

    await setLoad('pk-b', 85);
    const startedAt = Date.now();
    let last: PickJson[] = [];
    await eventually(
      'every store picks pk-c',
      async () => {
        last = jsonLines((await fleetkitPick(['--json'], env())).stdout);
        return last.length === 3 && last.every((p) => p.picked?.id === 'pk-c');
      },
      { timeoutMs: 60_000 },
    );
    t.diagnostic(
      `the pick moved to pk-c in every store's answer ${Date.now() - startedAt} ms after the load`,
    );
    const one = await fleetkitPick(['--json', '--store', 'zookeeper'], env());
    assert.deepEqual(
      jsonLines(one.stdout).map((p) => [p.store, p.picked?.id]),
      [['zookeeper', 'pk-c']],
    );
    await setLoad('pk-b', 8);
  });

  test('--follow: a new line whenever the choice changes, not for every load; Ctrl-C ends it (130)', async (t) => {
    const child: ChildProcess = spawn(process.execPath, [FLEETKIT, 'pick', '--follow', '--json'], {
      cwd: CWD,
      env: pickEnv(env()),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      const lines = () => jsonLines(stdout);
      const picksOf = (id: string) =>
        lines()
          .filter((p) => p.picked?.id === id)
          .map((p) => p.store);
      await eventually('a first pick per store', () => picksOf('pk-b').length === 3, { timeoutMs: 30_000 });
      // pk-b busier but still the least loaded: no new line.
      await setLoad('pk-b', 12);
      await setLoad('pk-a', 90);
      const startedAt = Date.now();
      await setLoad('pk-b', 70);
      await eventually('pk-c picked in every store', () => picksOf('pk-c').length === 3, {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      t.diagnostic(
        `--follow printed the new pick in every store ${Date.now() - startedAt} ms after the load`,
      );
      assert.deepEqual(
        lines().map((p) => p.picked?.id),
        ['pk-b', 'pk-b', 'pk-b', 'pk-c', 'pk-c', 'pk-c'],
        `one line per store and change of choice (stderr: ${stderr})`,
      );
      child.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 130);
    } finally {
      child.kill('SIGKILL');
      await setLoad('pk-a', 40);
      await setLoad('pk-b', 8);
    }
  });

  test('round-robin --count 4: the passing devices in turn; random picks only passing ones', async () => {
    const run = await fleetkitPick(['--strategy', 'round-robin', '--count', '4', '--store', 'consul'], env());
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(' ')[1]),
      ['pk-a', 'pk-b', 'pk-c', 'pk-a'],
    );
    const random = await fleetkitPick(
      ['--strategy', 'random', '--count', '30', '--json', '--store', 'consul'],
      env(),
    );
    const ids = new Set(jsonLines(random.stdout).map((p) => p.picked?.id));
    assert.ok(!ids.has('pk-dead'), 'never the critical one');
    assert.ok([...ids].every((id) => ['pk-a', 'pk-b', 'pk-c'].includes(id!)));
  });

  test('a store that is down is said on its line; exit 1 when no store answered', async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const some = await fleetkitPick([], { ...env(), FLEET_ETCD: dead });
    assert.equal(some.code, 0, 'the other stores picked');
    const [etcdLine, ...rest] = some.stdout.trimEnd().split('\n');
    assert.match(
      etcdLine!,
      /^etcd: not answering: etcd is unavailable: no list of web within 5000 ms \(.*\); check that etcd runs and that --etcd \(FLEET_ETCD\) names it$/,
    );
    assert.equal(rest.length, 2);
    assert.match(
      some.stderr,
      /waiting for (\w+, )*etcd(, \w+)* \(up to 5 s each\)/,
      'says what it waits for',
    );

    const none = await fleetkitPick(['--json'], {
      FLEET_ETCD: dead,
      FLEET_CONSUL: `http://127.0.0.1:${await freePort()}`,
    });
    t.diagnostic(`two stores down: exit ${none.code} in ${none.ms} ms`);
    assert.equal(none.code, 1);
    const picks = jsonLines(none.stdout);
    assert.deepEqual(
      picks.map((p) => [p.store, p.picked, p.candidates]),
      [
        ['etcd', null, []],
        ['consul', null, []],
      ],
    );
    assert.match(picks[1]!.reason, /^not answering: consul is unavailable/);

    const empty = await fleetkitPick([], { ...env(), FLEET_SERVICE: 'nobody' });
    assert.equal(empty.code, 1, 'nothing picked anywhere');
    assert.match(empty.stdout, /^etcd: nothing to pick: no passing device of service "nobody"/m);
  });

  test('real agents reporting their own CPU: the one told to carry 80 % stops being the pick in every store', async (t) => {
    // A service of their own: only these three agents (Consul's services are not in a namespace).
    // Each reports its process's CPU share every second (FLEET_LOAD_FROM=process), Consul's writes
    // unpaced (its default 15 s would apply otherwise) and its check a TTL the agent passes, as a
    // joined laptop's: an HTTP check of 1 s flapped to critical on this machine under other suites' load.
    const agentEnv = { ...stores.env(), FLEET_NAMESPACE: namespace, FLEET_SERVICE: 'agents' };
    const agents: RunningAgent[] = [];
    try {
      for (const id of ['ag-1', 'ag-2', 'ag-3']) {
        agents.push(
          await startAgent(
            {
              ...agentEnv,
              FLEET_DEVICE_ID: id,
              FLEET_LOAD_FROM: 'process',
              FLEET_CONSUL_LOAD_INTERVAL: '0',
              FLEET_CONSUL_CHECK: 'ttl',
            },
            { ipc: true },
          ),
        );
      }
      let picks: PickJson[] = [];
      const ask = async () => {
        picks = jsonLines((await fleetkitPick(['--json'], agentEnv)).stdout);
        return picks;
      };
      const lastPicks = (error: Error) => {
        throw new Error(`${error.message}; the last answers: ${JSON.stringify(picks)}`);
      };
      await eventually(
        'the three agents with a load in every store',
        async () =>
          (await ask()).length === 3 &&
          picks.every((p) => p.candidates.length === 3 && p.candidates.every((c) => c.cpuPercent !== null)),
        { timeoutMs: 90_000, intervalMs: 500 },
      ).catch(lastPicks);
      for (const p of picks) {
        const lowest = Math.min(...p.candidates.map((c) => c.cpuPercent!));
        assert.equal(
          p.candidates.find((c) => c.id === p.picked?.id)?.cpuPercent,
          lowest,
          `${p.store}: the lowest`,
        );
      }
      const victim = picks[0]!.picked!.id;
      const startedAt = Date.now();
      await sendStress(agents.find((a) => a.url.endsWith(`:${picks[0]!.picked!.port}`))!.child, {
        percent: 80,
        seconds: 120,
      });
      await eventually(
        `${victim} is no store's pick, and above the pick in each`,
        async () =>
          (await ask()).length === 3 &&
          picks.every((p) => {
            const busy = p.candidates.find((c) => c.id === victim)?.cpuPercent ?? 0;
            const chosen = p.candidates.find((c) => c.id === p.picked?.id)?.cpuPercent ?? 100;
            return p.picked !== null && p.picked.id !== victim && busy > chosen;
          }),
        { timeoutMs: 90_000, intervalMs: 500 },
      ).catch(lastPicks);
      t.diagnostic(
        `${victim} told to carry 80 %: no store picks it ${Date.now() - startedAt} ms later (${picks
          .map(
            (p) =>
              `${p.store} ${p.picked?.id}, ${victim} at ${p.candidates.find((c) => c.id === victim)?.cpuPercent} %`,
          )
          .join('; ')})`,
      );
    } finally {
      for (const agent of agents) agent.child.kill('SIGKILL');
    }
  });

  // Last of the store tests: it stops etcd (and starts it again).
  test('--follow through an etcd outage: a line saying so and naming the stale pick, the pick again once it is back', async (t) => {
    const child = spawn(process.execPath, [FLEETKIT, 'pick', '--follow', '--store', 'etcd'], {
      cwd: CWD,
      env: pickEnv(env()),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = once(child, 'exit');
    const lines = () => stdout.trimEnd().split('\n').filter(Boolean);
    const time = '\\d\\d:\\d\\d:\\d\\d';
    try {
      await eventually('the first pick', () => lines().length === 1, { timeoutMs: 30_000 });
      assert.match(
        lines()[0]!,
        new RegExp(`^${time} etcd: pk-b at 127\\.0\\.0\\.1:8102, CPU 8 % \\(least loaded of 3 passing\\)$`),
      );
      const stoppedAt = Date.now();
      await stores.etcd.stop();
      await eventually('a line saying etcd is down', () => lines().length === 2, { timeoutMs: 30_000 });
      t.diagnostic(`etcd down said ${Date.now() - stoppedAt} ms after it was stopped`);
      assert.match(
        lines()[1]!,
        new RegExp(`^${time} etcd: not answering: .*; its last pick, pk-b, may be stale$`),
      );
      const restartedAt = Date.now();
      await stores.etcd.restart();
      await eventually('the pick again', () => lines().length === 3, { timeoutMs: 60_000 });
      t.diagnostic(`the pick again ${Date.now() - restartedAt} ms after etcd was started again`);
      assert.match(lines()[2]!, new RegExp(`^${time} etcd: pk-b at 127\\.0\\.0\\.1:8102, CPU 8 %`));
      child.kill('SIGINT');
      assert.deepEqual(await exited, [130, null]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('--help and bad settings: exit 0 and 2, every bad setting named, nothing asked', async () => {
    const help = await fleetkitPick(['--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: fleetkit pick\b/m);
    assert.match(help.stdout, /^ {2}--strategy VALUE +FLEET_PICK_STRATEGY +least-loaded/m);
    const bad = await fleetkitPick(['--store', 'redis', '--strategy', 'fastest', '--count', '0'], env());
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    for (const field of [
      '--store (FLEET_PICK_STORE)',
      '--strategy (FLEET_PICK_STRATEGY)',
      '--count (FLEET_PICK_COUNT)',
    ])
      assert.ok(bad.stderr.includes(field), `${field} named in: ${bad.stderr}`);
    const follow = await fleetkitPick(['--follow', '--strategy', 'random'], env());
    assert.equal(follow.code, 2);
    assert.match(follow.stderr, /--follow \(FLEET_PICK_FOLLOW\): least-loaded only/);
    const none = await fleetkitPick([], {});
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--from INSTRUCTOR, or --etcd/);
  });
});

describe('fleetkit pick against the secure stores (fleetkit stores --secure)', { timeout: 120_000 }, () => {
  let secure: SecureStores;
  const namespace = `picksec${process.pid}`;
  const registries: Registry[] = [];
  before(async () => {
    // The folder the first suite ran in (and removed when it ended): empty again, no ./fleetkit.env.
    mkdirSync(CWD, { recursive: true });
    secure = await startSecureStores({ namespace });
    for (const store of STORE_KINDS) {
      const registry = createRegistry({
        store,
        endpoints: secure.endpoints[store],
        namespace,
        credentials: secure.roles.device.credentials,
        // Nothing answers an HTTP check here: the device says itself that it lives.
        liveness: { consulCheck: 'ttl', checkTtlSeconds: 30 },
      });
      registries.push(registry);
      registry.register({ service: 'web', id: 'sec-1', host: '127.0.0.1', port: 9, load: loadOf(5) });
    }
  });
  after(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await secure?.stop();
    rmSync(CWD, { recursive: true, force: true });
  });

  test('with the device role credentials (FLEET_CREDENTIALS) every store picks; without, each says unauthorized', async (t) => {
    const env = { ...secure.env(), FLEET_NAMESPACE: namespace };
    const ms = await eventually(
      'sec-1 picked by every store',
      async () => {
        const run = await fleetkitPick(['--json'], { ...env, FLEET_CREDENTIALS: secure.roles.device.file });
        return run.code === 0 && jsonLines(run.stdout).every((p) => p.picked?.id === 'sec-1') && run;
      },
      { timeoutMs: 20_000 },
    );
    t.diagnostic(`picked in every secure store within ${ms} ms`);
    const bare = await fleetkitPick([], env);
    assert.equal(bare.code, 1, bare.stdout + bare.stderr);
    for (const store of STORE_KINDS)
      assert.match(bare.stdout + bare.stderr, new RegExp(`${store}: .*unauthorized`));
    const flag = await fleetkitPick(['--consul-token', 'x-secret-x'], env);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--consul-token: FLEET_CONSUL_TOKEN: give it in the environment or a file/);
    assert.doesNotMatch(flag.stderr, /x-secret-x/);
  });
});
