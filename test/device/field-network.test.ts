// The agent in the field's network, as root with real network namespaces (a Pi whose address changes
// under it, a Pi that boots with no network) against the three real stores listening on the host:
// - a new address (the old one removed, another added: a new DHCP lease) reaches every store's record
//   and Consul's HTTP check, without a restart;
// - no route to the stores at start: the agent keeps running and serving its page, says so, and
//   registers once the address appears, the same process all along.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { AgentStatus } from '../../device/agent.ts';
import {
  createRegistry,
  type InstanceWatch,
  parseEndpoints,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { canUseNamespaces } from '../../provision/sim/netns.ts';
import { FLEETKIT, TEST_LIVENESS_ENV, TEST_WINDOWS_MS } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
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

describe('the agent in the field: network', {
  timeout: 180_000,
  // The two devices are apart (their own namespace, link and store namespace): side by side.
  concurrency: true,
  skip: canUseNamespaces() ? false : 'needs root (network namespaces)',
}, () => {
  let stores: ThreeStores;
  const registries: Registry[] = [];
  const agents: NsAgent[] = [];
  const hosts: { ns: string; hostLink: string }[] = [];

  before(async () => {
    // The devices in namespaces reach the stores on the host's side of their link.
    stores = await startThreeStores({ host: '0.0.0.0' });
  });

  after(async () => {
    for (const agent of agents) agent.child.kill('SIGKILL');
    await Promise.all(registries.map((r) => r.close()));
    for (const h of hosts) removeHost(h.ns, h.hostLink);
    await stores?.stop();
  });

  /** The stores' endpoints as seen from a namespace whose host side is `storeHost`. */
  function storeEnv(storeHost: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const kind of STORE_KINDS) {
      env[`FLEET_${kind.toUpperCase()}`] = parseEndpoints(kind, stores[kind].endpoints)
        .map((e) => e.address.replace(e.host, storeHost))
        .join(',');
    }
    return env;
  }

  function watch(namespace: string): Record<StoreKind, InstanceWatch> {
    const views = {} as Record<StoreKind, InstanceWatch>;
    for (const kind of STORE_KINDS) {
      const registry = createRegistry({ store: kind, endpoints: stores[kind].endpoints, namespace });
      registries.push(registry);
      views[kind] = registry.watchInstances('web');
    }
    return views;
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

  test("a new address (DHCP gave another lease) reaches every store and Consul's check, no restart", async (t) => {
    const net = subnet(0);
    const host = makeHost('a', net);
    hosts.push(host);
    ip('-n', host.ns, 'addr', 'add', `${net}.10/24`, 'dev', 'eth0');
    const namespace = `field${process.pid}a`;
    const views = watch(namespace);
    const id = `moving-${process.pid}`;
    const agent = startNsAgent(host.ns, {
      ...storeEnv(host.storeHost),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: id,
    });
    agents.push(agent);
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

  test('no route to the stores at start: serves its page and says so, registers once a route appears', async (t) => {
    const net = subnet(1);
    const host = makeHost('b', net);
    hosts.push(host);
    const namespace = `field${process.pid}b`;
    const views = watch(namespace);
    const id = `late-${process.pid}`;
    const agent = startNsAgent(host.ns, {
      ...storeEnv(host.storeHost),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: id,
    });
    agents.push(agent);
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
    assert.match(page.toString(), /no route to the stores/);
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
