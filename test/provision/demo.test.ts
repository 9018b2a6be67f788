// `npm run demo`, brought up for real until every store lists its 6 devices; then Ctrl-C (SIGINT)
// must leave no process, namespace or link behind. Started as a service manager starts it (SHLVL unset),
// with a ~/.bashrc that leaves a marker: none of its commands may run it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { after, test } from 'node:test';
import { createRegistry, type Registry, STORE_KINDS } from '../../lib/registry/index.ts';
import { simControlFile } from '../../provision/sim/control.ts';
import { BRIDGE_ADDRESS, canUseNamespaces, leftovers } from '../../provision/sim/netns.ts';
import { FLEETKIT } from '../support/agents.ts';
import { bashrcTrap } from '../support/bashrc-trap.ts';
import { spawnDemo } from '../support/demo-run.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';

/** What the demo starts: the stores, the agents (the bundle), the page server. */
const DEMO_PROCESS =
  /etcd --name|ZooKeeperServerMain|consul agent|fleetkit-agent\.mjs|fleetkit\.mjs server|provision\/demo\.ts/;

function demoProcesses(): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => DEMO_PROCESS.test(line))
    .map((line) => line.trim());
}

/** Every listening TCP socket and bound UDP socket of these pids (ss -ltunp): "tcp 10.77.0.1:2379 etcd". */
function listeningOf(pids: Set<number>): string[] {
  return execFileSync('ss', ['-H', '-ltunp'], { encoding: 'utf8' })
    .split('\n')
    .flatMap((line) => {
      const [netid, , , , local] = line.trim().split(/\s+/);
      const owners = [...line.matchAll(/\("([^"]+)",pid=(\d+)/g)];
      const owner = owners.find((m) => pids.has(Number(m[2])));
      return owner && local ? [`${netid} ${local} ${owner[1]}`] : [];
    });
}

const registries: Registry[] = [];
after(async () => {
  await Promise.all(registries.map((r) => r.close()));
});

test('npm run demo, started with SHLVL unset: every store lists 6 devices, no command runs ~/.bashrc, then SIGINT leaves nothing running', {
  timeout: 180_000,
}, async (t) => {
  const trap = bashrcTrap();
  t.after(trap.remove);
  assert.equal(
    trap.plainBashRuns().length,
    1,
    'the trap is real here: a plain bash -c, stdin a socket, runs it',
  );
  const before = new Set(demoProcesses());
  const port = await freePort();
  const startedAt = Date.now();
  const run = spawnDemo(['--port', String(port)], trap.env({ ...process.env, FLEET_LOG_LEVEL: 'warn' }));
  const demo = run.child;
  const exited = run.exited;
  try {
    await run.ready(120_000, 600);
    t.diagnostic(`ready ${Date.now() - startedAt} ms after npm run demo`);
    const endpoints = run.endpoints();
    const views = STORE_KINDS.map((kind) => {
      const registry = createRegistry({ store: kind, endpoints: [endpoints[kind]] });
      registries.push(registry);
      return registry.watchInstances('web');
    });
    await eventually(
      '6 devices passing in every store',
      () => views.every((v) => v.instances().filter((i) => i.health === 'passing').length === 6),
      {
        timeoutMs: 20_000,
      },
    );
    t.diagnostic(`6 devices in all three stores ${Date.now() - startedAt} ms after npm run demo`);
    assert.ok((await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the live page answers');
    assert.match(run.output(), /presenter .*\?token=/);

    // Nothing listening that need not be: the stores on loopback, or (devices in namespaces, as root)
    // on the simulation bridge's address alone; never on every address (that is the classroom's).
    // The demo's stores: the processes behind the endpoints it printed (other tests may run stores too).
    const ports = STORE_KINDS.map((kind) => /:(\d+)\/?$/.exec(endpoints[kind])![1]);
    const storePids = new Set(
      execFileSync('ss', ['-H', '-ltnp'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => ports.includes(/:(\d+)$/.exec(line.trim().split(/\s+/)[3] ?? '')?.[1] ?? ''))
        .flatMap((line) => [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]))),
    );
    assert.equal(storePids.size, 3, `etcd, ZooKeeper and Consul found on ports ${ports.join(', ')}`);
    const sockets = listeningOf(storePids);
    t.diagnostic(`the stores listen on: ${sockets.join(', ')}`);
    assert.ok(sockets.length >= 3, 'each store listens somewhere');
    const allowed = canUseNamespaces() ? [BRIDGE_ADDRESS, '127.0.0.1'] : ['127.0.0.1'];
    for (const socket of sockets) {
      // Java's sockets show IPv4 addresses mapped into IPv6: [::ffff:10.77.0.1].
      const address = socket
        .split(' ')[1]!
        .replace(/:\d+$/, '')
        .replace(/^\[::ffff:(.*)\]$/, '$1');
      assert.ok(allowed.includes(address), `${socket}: not on ${allowed.join(' or ')}`);
    }

    // The simulated fleet's control API: its secret in a 0600 file for another terminal's commands
    // (which work without being given it), and nothing without it.
    const control = /fleetkit sim list --control (http:\/\/127\.0\.0\.1:(\d+))/.exec(run.output());
    assert.ok(control, 'the demo prints its sim control URL');
    const file = simControlFile(Number(control[2]));
    assert.equal(statSync(file).mode & 0o777, 0o600, file);
    const listed = execFileSync(process.execPath, [FLEETKIT, 'sim', 'list', '--control', control[1]!], {
      encoding: 'utf8',
      env: { ...process.env, FLEET_SIM_CONTROL_SECRET: '' },
    });
    assert.match(listed, /^sim-1 +running/m);
    assert.equal((await fetch(`${control[1]}/devices`)).status, 401, 'no secret: refused');
  } finally {
    process.kill(-demo.pid!, 'SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
  }
  try {
    assert.match(run.output(), /nothing of the demo is left running/);
    await eventually('no demo process left', () => demoProcesses().every((p) => before.has(p)), {
      timeoutMs: 5000,
    }).catch(() => {
      assert.deepEqual(
        demoProcesses().filter((p) => !before.has(p)),
        [],
      );
    });
    assert.deepEqual(await leftovers(), [], 'no namespace or link left');
    const control = /fleetkit sim list --control http:\/\/127\.0\.0\.1:(\d+)/.exec(run.output());
    if (control) assert.ok(!existsSync(simControlFile(Number(control[1]))), 'the control file is removed');
    assert.deepEqual(
      trap.runs(),
      [],
      'no command of the demo ran ~/.bashrc (pid and command of each that did)',
    );
  } finally {
    // Checked above; should it have failed, leave nothing for the next test either.
    demo.stdout.destroy();
    demo.stderr.destroy();
    try {
      process.kill(-demo.pid!, 'SIGKILL');
    } catch {
      // the group is gone, as it should be
    }
  }
});
