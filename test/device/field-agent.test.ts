// The agent in the field, as a Pi runs it, against the three real stores:
// - a clock step after boot (no RTC; NTP arrives late): the agent's wall clock is stepped under it
//   (Date shifted in the process by a preload, on a signal), and its countdown, its health, its
//   Consul load interval and its registrations stay right;
// - in steady state it writes nothing to the SD card: the bundle under strace, with its cwd and HOME
//   in a fresh folder, and the kernel's count of bytes it sent to storage (/proc/<pid>/io);
// - the activity LED on a fake sysfs tree: registered, a store unreachable, a conflict, a color applied;
// - as root, in network namespaces (the stores listening on the host's side of each link): a new
//   address (the old one removed, another added: a new DHCP lease) reaches every store's record and
//   Consul's HTTP check without a restart; with no route to the stores at start the agent keeps
//   running and serving its page, says so, and registers once the address appears, the same process.
// One set of stores for all, the tests side by side (each its own store namespace and device ids).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { AgentStatus } from '../../device/agent.ts';
import { buildAgent } from '../../device/build.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import {
  type InstanceWatch,
  machineLoad,
  parseEndpoints,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { canUseNamespaces } from '../../provision/sim/netns.ts';
import {
  FLEETKIT,
  type RunningAgent,
  startAgent,
  TEST_LIVENESS_ENV,
  TEST_WINDOWS_MS,
} from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';
import { StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

// Names of our own ("fkf..."), apart from the simulated fleet's fk-N / fkhN / fkbr0 that its
// teardown removes; the subnets from the pid, so that two runs on one machine do not collide.
const tag = process.pid % 10_000;
const subnet = (n: number) => `10.79.${(process.pid % 120) * 2 + n}`;
const PORT = 8080;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A namespace with eth0 (no address yet) wired to a host link holding `<subnet>.1/24`. */
function makeHost(name: string, net: string): { ns: string; hostLink: string; storeHost: string } {
  const ns = `fkf-${name}-${process.pid}`;
  const hostLink = `fkf${name}${tag}`;
  removeHost(ns, hostLink);
  ip('netns', 'add', ns);
  ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `fkf${name}${tag}n`);
  ip('link', 'set', `fkf${name}${tag}n`, 'netns', ns);
  ip('addr', 'add', `${net}.1/24`, 'dev', hostLink);
  ip('link', 'set', hostLink, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'set', `fkf${name}${tag}n`, 'name', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  return { ns, hostLink, storeHost: `${net}.1` };
}

function removeHost(ns: string, hostLink: string): void {
  try {
    ip('netns', 'del', ns);
  } catch {}
  try {
    ip('link', 'del', hostLink);
  } catch {}
}

interface NsAgent {
  child: ChildProcess;
  output: () => string;
  exited: () => boolean;
}

/** The real CLI, inside the namespace, listening on every address there (as on a Pi). */
function startNsAgent(ns: string, env: Record<string, string>): NsAgent {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, FLEETKIT, 'agent'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...TEST_LIVENESS_ENV,
      FLEET_LISTEN: '0.0.0.0',
      FLEET_PORT: String(PORT),
      FLEET_ADDRESS_CHECK: '1',
      FLEET_LED_ROOT: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return { child, output: () => out, exited: () => child.exitCode !== null || child.signalCode !== null };
}

/** eventually(), its failure carrying what the agent said up to then. */
async function waitFor(
  agent: NsAgent,
  what: string,
  check: () => unknown,
  timeoutMs: number,
): Promise<number> {
  try {
    return await eventually(what, check, { timeoutMs });
  } catch (error) {
    throw new Error(`${(error as Error).message}\nthe agent said:\n${agent.output().slice(-1500)}`);
  }
}

/** The agent's /status, asked from inside its namespace (where it may have no address yet). */
function statusInNs(ns: string): AgentStatus {
  const body = execFileSync('ip', [
    'netns',
    'exec',
    ns,
    'curl',
    '-sf',
    '--max-time',
    '2',
    `http://127.0.0.1:${PORT}/status`,
  ]).toString();
  return JSON.parse(body) as AgentStatus;
}

const asRoot = canUseNamespaces();
const needsRoot = asRoot ? false : 'needs root (network namespaces)';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Loaded with --import before the agent: Date (now() and new Date()) runs `offset` ms off the real
 * clock, the offset read from FAKE_CLOCK_FILE on SIGUSR2: a wall clock step, as NTP makes one. The
 * monotonic clocks (performance.now, process.hrtime, timers) are untouched, as on a real step.
 */
const CLOCK_PRELOAD = `
import { readFileSync } from 'node:fs';
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
let offset = 0;
process.on('SIGUSR2', () => { offset = Number(readFileSync(process.env.FAKE_CLOCK_FILE, 'utf8')) || 0; });
class SteppedDate extends RealDate {
  constructor(...args) { if (args.length === 0) super(realNow() + offset); else super(...args); }
  static now() { return realNow() + offset; }
}
globalThis.Date = SteppedDate;
`;

describe('the agent in the field', { timeout: 180_000, concurrency: true }, () => {
  let stores: ThreeStores;
  let dir: string;
  const watcher = new StoreWatcher(() => stores);
  const children: ChildProcess[] = [];
  /** Agents run under strace: not our children's children once strace is gone. */
  const pids: number[] = [];
  const hosts: { ns: string; hostLink: string }[] = [];
  let counter = 0;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-field-'));
    // Devices in namespaces reach the stores on the host's side of their link: every address.
    stores = await startThreeStores({ host: asRoot ? '0.0.0.0' : '127.0.0.1' });
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await watcher.close();
    for (const h of hosts) removeHost(h.ns, h.hostLink);
    await stores?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const fleet = () => watcher.watch(`field${process.pid}n${++counter}`);

  async function agent(
    env: Record<string, string>,
    options: Parameters<typeof startAgent>[1] = {},
  ): Promise<RunningAgent> {
    const running = await startAgent({ ...stores.env(), FLEET_LED_ROOT: 'off', ...env }, options);
    children.push(running.child);
    return running;
  }

  const health = async (a: RunningAgent) => (await fetch(`${a.url}/health`)).status;

  test('a clock step (back 1 h, then ahead 1 day) leaves the countdown, health, load interval and registrations right', async (t) => {
    const f = fleet();
    const preload = path.join(dir, 'stepped-clock.mjs');
    writeFileSync(preload, CLOCK_PRELOAD);
    const clockFile = path.join(dir, 'clock-offset');
    const a = await agent(
      {
        FLEET_NAMESPACE: f.namespace,
        FLEET_DEVICE_ID: 'no-rtc',
        FLEET_LOAD_FROM: 'process',
        // Consul: load-only updates at most once a second (kept by the registration on a clock).
        FLEET_CONSUL_LOAD_INTERVAL: '1',
        FAKE_CLOCK_FILE: clockFile,
      },
      { command: ['--import', pathToFileURL(preload).href, FLEETKIT, 'agent'], ipc: true },
    );
    await eventually('registered everywhere', () => f.passingEverywhere('no-rtc'), { timeoutMs: 15_000 });
    const step = async (offsetMs: number) => {
      writeFileSync(clockFile, String(offsetMs));
      a.child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
    };

    // NTP arrives and finds the clock an hour ahead: back it goes.
    await step(-HOUR_MS);
    const replies: { type: string; endsAt?: number; secondsLeft?: number }[] = [];
    a.child.on('message', (m) => replies.push(m as (typeof replies)[number]));
    const toldAt = Date.now();
    a.child.send({ type: 'stress', percent: 60, seconds: 12 });
    await eventually('the stress is taken', () => replies.some((r) => r.type === 'stressed'), {
      timeoutMs: 5000,
    });
    const reply = replies.find((r) => r.type === 'stressed')!;
    // Its endsAt is on its own (stepped) wall clock: the step really happened in the agent.
    const skew = reply.endsAt! - (toldAt + 12_000);
    assert.ok(
      Math.abs(skew + HOUR_MS) < 5000,
      `the agent's clock runs 1 h behind (endsAt off by ${skew} ms)`,
    );
    assert.ok(reply.secondsLeft! >= 11 && reply.secondsLeft! <= 12, `12 s told, ${reply.secondsLeft} s left`);

    // A load-only update reaches Consul within its 1 s interval though "the last write" is an hour
    // ahead of the stepped wall clock (on the wall clock, the registration would hold it for an hour).
    const cpu = () =>
      STORE_KINDS.map((k) => machineLoad(f.views[k].get('no-rtc')?.record.load)?.cpuPercent ?? 0);
    const rose = await eventually(
      'the told load in Consul as in etcd and ZooKeeper (CPU over 15 %)',
      () => cpu().every((percent) => percent >= 15),
      // Measured 0.7 to 1.8 s (1 s report interval, 1 s Consul interval); 8 s once failed at >= 30 %
      // with four more agents on this 2-core machine.
      { timeoutMs: 10_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}: etcd, ZooKeeper, Consul say ${cpu().join(', ')} %`);
    });
    t.diagnostic(
      `the load reached all three stores ${rose} ms after the load was told (clock stepped back 1 h)`,
    );

    // Then the clock jumps a day ahead (the other way a late NTP goes): health never flickers.
    await step(DAY_MS);
    const codes = new Set<number>();
    const sampleUntil = performance.now() + 2500;
    while (performance.now() < sampleUntil) {
      codes.add(await health(a));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(
      [...codes],
      [200],
      '/health stays 200 across the step (on the wall clock: stale for a day)',
    );
    const status = await a.status();
    const elapsed = (Date.now() - toldAt) / 1000;
    assert.ok(status.stress.secondsLeft !== null, 'the told load is still on');
    assert.ok(
      Math.abs(status.stress.secondsLeft - (12 - elapsed)) <= 1.5,
      `${status.stress.secondsLeft} s left, ${elapsed.toFixed(1)} s after 12 s were told`,
    );
    assert.ok(status.stress.endsAt! - Date.now() > DAY_MS - 60_000, 'endsAt shown on its (stepped) clock');
    // The leases, sessions and Consul's check went on through both steps.
    assert.ok(f.passingEverywhere('no-rtc'), 'still passing in every store');
    await eventually(
      'the told load ends on time',
      async () => (await a.status()).stress.secondsLeft === null,
      {
        timeoutMs: 12_000,
      },
    );
    const endedAfter = (Date.now() - toldAt) / 1000;
    assert.ok(endedAfter >= 11 && endedAfter <= 15, `ended ${endedAfter.toFixed(1)} s after 12 s were told`);
    assert.ok(f.passingEverywhere('no-rtc'), 'still passing in every store');
  });

  test('steady state: the bundle writes nothing to storage (strace, /proc/<pid>/io, its own folder, its log)', async (t) => {
    try {
      execFileSync('strace', ['-V'], { stdio: 'ignore' });
    } catch {
      throw new Error('strace is not installed: `npm run stores:install -- strace` installs it (as root)');
    }
    const f = fleet();
    const built = await buildAgent(path.join(dir, 'dist'));
    const home = path.join(dir, 'home');
    mkdirSync(home);
    const trace = path.join(dir, 'strace.txt');
    const port = await freePort();
    // Every call that creates, changes or removes a file (open for writing, mkdir, rename, unlink...).
    const calls =
      'open,openat,openat2,creat,truncate,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,symlink,symlinkat';
    const child = spawn(
      'strace',
      ['-f', '-qq', '-o', trace, '-e', `trace=${calls}`, process.execPath, ...unitNodeFlags(), built.file],
      {
        cwd: home,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          ...TEST_LIVENESS_ENV,
          ...stores.env(),
          FLEET_NAMESPACE: f.namespace,
          FLEET_DEVICE_ID: 'quiet-pi',
          FLEET_LISTEN: '127.0.0.1',
          FLEET_PORT: String(port),
          FLEET_LED_ROOT: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (error) => (out += `strace: ${error.message}`));
    await eventually('registered everywhere under strace', () => f.passingEverywhere('quiet-pi'), {
      timeoutMs: 30_000,
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${out.slice(-1500)}`);
    });
    await f.clients.etcd.setConfig('color', 'teal');
    await eventually('teal applied', () => f.views.consul.get('quiet-pi')?.record.color === 'teal', {
      timeoutMs: 5000,
    });
    const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
    assert.ok(pid > 0, 'the agent logs its pid');
    pids.push(pid);
    const writeBytes = () =>
      Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
    await new Promise((r) => setTimeout(r, 500));

    // Steady state: 6 s (6 load measurements, Consul's check every second, keepalives, pings). Under
    // strace on a loaded 2-core machine a store's stream may time out and the agent reconnect (and say
    // so): that window is not steady, and the next one is measured, up to 4. No window may write a byte.
    let steady: { bytes: number; logged: string; traced: string } | undefined;
    const windows: string[] = [];
    for (let window = 0; window < 4 && !steady; window++) {
      const before = { bytes: writeBytes(), logged: out.length, traced: readFileSync(trace, 'utf8').length };
      await new Promise((r) => setTimeout(r, 6000));
      const measured = {
        bytes: writeBytes() - before.bytes,
        logged: out.slice(before.logged),
        traced: readFileSync(trace, 'utf8').slice(before.traced),
      };
      windows.push(`${measured.bytes} bytes to storage, ${measured.logged.length} bytes of log`);
      assert.equal(measured.bytes, 0, 'no byte sent to storage by the agent (/proc/<pid>/io)');
      if (measured.logged === '' && f.passingEverywhere('quiet-pi')) steady = measured;
    }
    t.diagnostic(`6 s windows: ${windows.join('; ')}`);
    assert.ok(
      steady,
      `a steady 6 s, registered everywhere with nothing logged (the journal may be on the card):\n${out.slice(-1500)}`,
    );
    const { traced } = steady;

    // To the agent itself: strace, told SIGTERM, would detach and leave it running.
    process.kill(pid, 'SIGTERM');
    await new Promise((r) => child.once('exit', r));
    // Over the whole run (start, registration, color, steady state, stop): every file it created,
    // changed or removed. /dev, /proc and /sys are the kernel's, not the card.
    const written = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => /^\d+\s+\w+\(/.test(line))
      .filter((line) => {
        const call = /^\d+\s+(\w+)\(/.exec(line)![1]!;
        if (call.startsWith('open') || call === 'creat')
          return /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(line) || call === 'creat';
        return true;
      })
      .map((line) => /"([^"]*)"/.exec(line)?.[1] ?? line)
      .filter((file) => !/^\/(dev|proc|sys)\//.test(file));
    assert.deepEqual(written, [], `files written by the agent:\n${written.join('\n')}`);
    assert.deepEqual(readdirSync(home), [], 'its cwd and HOME stay empty');
    t.diagnostic(
      `strace: ${traced.split('\n').filter(Boolean).length} file calls in steady state, none writing`,
    );
  });

  test('LED on a fake sysfs tree: registered, color applied, a store unreachable, a conflict; /status shows it', async (t) => {
    const f = fleet();
    const tree = (name: string) => {
      const root = path.join(dir, `leds-${name}`);
      mkdirSync(path.join(root, 'ACT'), { recursive: true });
      writeFileSync(path.join(root, 'ACT/trigger'), 'none timer heartbeat [mmc0] actpwr\n');
      writeFileSync(path.join(root, 'ACT/brightness'), '0\n');
      writeFileSync(path.join(root, 'ACT/max_brightness'), '1\n');
      return root;
    };
    const read = (root: string, file: string) => readFileSync(path.join(root, 'ACT', file), 'utf8').trim();
    const ledOf = async (a: RunningAgent) => ((await a.status()) as AgentStatus).led;

    const one = tree('one');
    const a = await agent({ FLEET_NAMESPACE: f.namespace, FLEET_DEVICE_ID: 'lit', FLEET_LED_ROOT: one });
    await eventually('registered: heartbeat', async () => read(one, 'trigger') === 'heartbeat', {
      timeoutMs: 15_000,
    });
    assert.equal((await ledOf(a))?.state, 'registered');
    assert.equal((await ledOf(a))?.name, 'ACT');

    // A color: 3 blinks, seen in brightness, then the heartbeat again. Sampled from the write until the
    // heartbeat is back after the blinks (about 1 s; the color itself may take seconds to arrive under
    // load: 15 s in all).
    const seen: string[] = [];
    let blinked = false;
    const sampling = (async () => {
      const end = performance.now() + 15_000;
      while (performance.now() < end) {
        const trigger = read(one, 'trigger');
        if (trigger === 'none') blinked = true;
        else if (blinked && trigger === 'heartbeat') return;
        const v = read(one, 'brightness');
        if (v !== '' && seen.at(-1) !== v) seen.push(v);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await f.clients.zookeeper.setConfig('color', 'orange');
    await sampling;
    assert.ok(blinked, 'the LED left its heartbeat to blink');
    assert.equal(seen.filter((v) => v === '1').length, 3, `3 blinks: ${seen.join(' ')}`);
    assert.equal(read(one, 'trigger'), 'heartbeat', 'back to the heartbeat');

    // The same id from another device: that one shows the conflict pattern.
    const two = tree('two');
    const b = await agent({ FLEET_NAMESPACE: f.namespace, FLEET_DEVICE_ID: 'lit', FLEET_LED_ROOT: two });
    await eventually(
      'conflict shown',
      async () => (await ledOf(b))?.state === 'conflict' && read(two, 'trigger') === 'none',
      { timeoutMs: 15_000 },
    );
    const flashes = new Set<string>();
    const until = performance.now() + 1400;
    while (performance.now() < until) {
      const v = read(two, 'brightness'); // '' while a write is under way (a plain file, not sysfs)
      if (v !== '') flashes.add(v);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual([...flashes].sort(), ['0', '1'], 'the pattern blinks');
    assert.equal(read(one, 'trigger'), 'heartbeat', 'the first device is still registered');

    // A store that does not answer (nothing listens on its port): fast blink.
    const three = tree('three');
    const c = await agent({
      FLEET_NAMESPACE: f.namespace,
      FLEET_DEVICE_ID: 'half-lit',
      FLEET_LED_ROOT: three,
      FLEET_CONSUL: `http://127.0.0.1:${await freePort()}`,
    });
    // The trigger is written first, then its delays (a real kernel makes those files with the trigger).
    const delay = (file: string) => (existsSync(path.join(three, 'ACT', file)) ? read(three, file) : '');
    // The status says what was written once the last write is done: both are waited for.
    await eventually(
      'unreachable: timer, 100 ms on, 100 ms off, and the status says fast blink',
      async () => {
        const led = await ledOf(c);
        return (
          read(three, 'trigger') === 'timer' &&
          delay('delay_on') === '100' &&
          delay('delay_off') === '100' &&
          led?.state === 'unreachable' &&
          /fast blink/.test(led.shown)
        );
      },
      { timeoutMs: 15_000 },
    );
    assert.match(await (await fetch(c.url)).text(), /"led":\{"name":"ACT","state":"unreachable"/);

    // SIGTERM: the LED gets its own trigger back.
    a.child.kill('SIGTERM');
    await a.exited;
    assert.equal(read(one, 'trigger'), 'mmc0');
    t.diagnostic('heartbeat, 3 blinks, conflict pattern, timer 100/100, mmc0 restored at exit');
  });

  /**
   * A device in a namespace of its own (`name`, the `index`th subnet; `setup` runs before its agent
   * starts, such as giving it an address), its agent started there, and the views of its namespace.
   */
  function deviceInNamespace(
    name: string,
    index: number,
    idPrefix: string,
    setup: (host: ReturnType<typeof makeHost>, net: string) => void = () => {},
  ) {
    const net = subnet(index);
    const host = makeHost(name, net);
    hosts.push(host);
    setup(host, net);
    const { namespace, views } = fleet();
    const id = `${idPrefix}-${process.pid}`;
    const agent = startNsAgent(host.ns, {
      ...nsStoreEnv(host.storeHost),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: id,
    });
    children.push(agent.child);
    return { net, host, views, id, agent };
  }

  /** The stores' endpoints as seen from a namespace whose host side is `storeHost`. */
  function nsStoreEnv(storeHost: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const kind of STORE_KINDS) {
      env[`FLEET_${kind.toUpperCase()}`] = parseEndpoints(kind, stores[kind].endpoints)
        .map((e) => e.address.replace(e.host, storeHost))
        .join(',');
    }
    return env;
  }

  const everywhereAt = (views: Record<StoreKind, InstanceWatch>, id: string, host: string) =>
    STORE_KINDS.every((k) => {
      const seen = views[k].get(id);
      return seen?.health === 'passing' && seen.record.host === host;
    });

  /** Consul's own check of the device: its output names the URL it polled, and whether it passed. */
  async function consulCheck(id: string): Promise<{ Status: string; Output: string } | undefined> {
    const checks = (await (await fetch(`${stores.consul.endpoints[0]}/v1/agent/checks`)).json()) as Record<
      string,
      { ServiceID: string; Status: string; Output: string }
    >;
    return Object.values(checks).find((c) => c.ServiceID === id);
  }

  test("a new address (DHCP gave another lease) reaches every store and Consul's check, no restart", {
    skip: needsRoot,
  }, async (t) => {
    const { net, host, views, id, agent } = deviceInNamespace('a', 0, 'moving', (h, n) =>
      ip('-n', h.ns, 'addr', 'add', `${n}.10/24`, 'dev', 'eth0'),
    );
    const first = await waitFor(
      agent,
      `registered everywhere as ${net}.10`,
      () => everywhereAt(views, id, `${net}.10`),
      30_000,
    );
    t.diagnostic(`registered as ${net}.10 everywhere ${first} ms after start`);
    await eventually(
      'Consul checks the device at its first address',
      async () => {
        const check = await consulCheck(id);
        return check?.Status === 'passing' && check.Output.includes(`http://${net}.10:${PORT}/health`);
      },
      { timeoutMs: 10_000 },
    );

    // The lease ends and another begins: the old address goes, a new one comes.
    const movedAt = performance.now();
    ip('-n', host.ns, 'addr', 'del', `${net}.10/24`, 'dev', 'eth0');
    ip('-n', host.ns, 'addr', 'add', `${net}.20/24`, 'dev', 'eth0');
    const moved = await waitFor(
      agent,
      `every store says ${net}.20`,
      () => everywhereAt(views, id, `${net}.20`),
      // Measured 0.3 to 0.9 s (a 1 s address check, then new connections and the records taken over).
      10_000,
    );
    t.diagnostic(`every store had the new address ${moved} ms after the change`);
    await eventually(
      'Consul checks the device at its new address, and it passes',
      async () => {
        const check = await consulCheck(id);
        return check?.Status === 'passing' && check.Output.includes(`http://${net}.20:${PORT}/health`);
      },
      { timeoutMs: 10_000 },
    );
    t.diagnostic(
      `Consul's check passing at the new address ${Math.round(performance.now() - movedAt)} ms after`,
    );
    // The old lease and session end (no keepalive reaches the stores from the old address any more):
    // that must not take the record, which the new ones hold now.
    await new Promise((r) => setTimeout(r, Math.max(...Object.values(TEST_WINDOWS_MS)) + 1500));
    assert.ok(everywhereAt(views, id, `${net}.20`), 'still registered everywhere once the old windows ended');

    assert.equal(agent.exited(), false, 'the same agent process all along');
    assert.match(agent.output(), new RegExp(`address changed from ${net}\\.10 to ${net}\\.20`));
    const status = statusInNs(host.ns);
    assert.equal(status.host, `${net}.20`);
    assert.equal(status.network.source, 'route');
    assert.equal(status.network.changes, 1);
  });

  test('no route to the stores at start: serves its page and says so, registers once a route appears', {
    skip: needsRoot,
  }, async (t) => {
    const { net, host, views, id, agent } = deviceInNamespace('b', 1, 'late');
    const noRoute = await waitFor(
      agent,
      'its page and its log say there is no route',
      () => {
        const status = statusInNs(host.ns);
        return (
          status.host === null &&
          status.network.problem !== null &&
          status.stores.length === 0 &&
          /no route to the stores yet/.test(agent.output())
        );
      },
      15_000,
    );
    t.diagnostic(`page serving, no route, ${noRoute} ms after start`);
    const page = execFileSync('ip', ['netns', 'exec', host.ns, 'curl', '-sf', `http://127.0.0.1:${PORT}/`]);
    // The status the page starts from (its script shows network.problem): no host, the reason.
    assert.match(
      page.toString(),
      /"host":null,.*"network":\{"host":null,"source":"none","problem":"no route to any store/,
    );
    // Several address checks later, still the same process: no exit, no restart by systemd.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(agent.exited(), false, `still running (output: ${agent.output().slice(-500)})`);
    assert.ok(STORE_KINDS.every((k) => views[k].get(id) === undefined));

    // The network arrives (DHCP answered at last).
    ip('-n', host.ns, 'addr', 'add', `${net}.30/24`, 'dev', 'eth0');
    const registered = await waitFor(
      agent,
      `registered everywhere as ${net}.30`,
      () => everywhereAt(views, id, `${net}.30`),
      // Measured 1.1 to 1.6 s (the next 1 s address check, then the three registrations).
      10_000,
    );
    t.diagnostic(`registered everywhere ${registered} ms after the address appeared`);
    assert.equal(agent.exited(), false, 'the same process registered');
    assert.equal((agent.output().match(/fleetkit agent cannot start/g) ?? []).length, 0);
    assert.match(agent.output(), /a route to the stores appeared/);
    const status = statusInNs(host.ns);
    assert.equal(status.network.problem, null);
    assert.deepEqual(
      status.stores.map((s) => s.registration),
      STORE_KINDS.map(() => 'registered'),
    );
  });
});
