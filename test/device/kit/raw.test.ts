// The kit's plain per-store commands (what etcdctl, zkCli.sh and curl do in the labs) against each
// real store, run as an attendee would: the kit downloaded from the page, `node` alone on PATH, the
// stores from ./fleetkit.env or from --from (the page). Watches are checked to print what the store
// pushes, and Ctrl-C ends them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { writeKitEnv } from '../../../device/kit/kit-env.ts';
import { DEFAULT_LIVENESS } from '../../../lib/registry/index.ts';
import { type RunningAgent, startAgent } from '../../support/agents.ts';
import { type AttendeeTerminal, attendeeFolder, downloadKit, runKit } from '../../support/attendee.ts';
import { type RunningServer, startServer } from '../../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../../support/stores.ts';

describe('node fleetkit.mjs etcd|zookeeper|consul: each store by hand', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let folder: string;
  let agent: RunningAgent;
  const watches: AttendeeTerminal[] = [];
  const ns = `raw${process.pid}`;

  /** Runs one kit command to its end: its exit code and output. */
  async function kit(args: string[], where = folder) {
    const terminal = await runKit(where, args);
    const code = await terminal.exitCode(30_000);
    return { code, output: terminal.output() };
  }
  async function ok(args: string[]) {
    const result = await kit(args);
    assert.equal(result.code, 0, `${args.join(' ')}:\n${result.output}`);
    return result.output;
  }
  async function watch(args: string[]) {
    const terminal = await runKit(folder, args);
    watches.push(terminal);
    await terminal.waitFor(/^watching /m, 15_000);
    return terminal;
  }
  async function ctrlC(terminal: AttendeeTerminal) {
    terminal.signal('SIGINT');
    const code = await terminal.exitCode(10_000);
    assert.equal(code, 130, terminal.output());
  }

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: ns, FLEET_CLASSROOM: 'on' });
    folder = await attendeeFolder(await downloadKit(server.url));
    // What join leaves in the folder (here without joining): the stores for every other command.
    writeKitEnv(
      folder,
      {
        stores: {
          etcd: stores.etcd.endpoints,
          zookeeper: stores.zookeeper.endpoints,
          consul: stores.consul.endpoints,
        },
        namespace: ns,
        service: 'web',
        liveness: DEFAULT_LIVENESS,
        page: server.url,
      },
      'a1b2c3d4e5f6',
    );
    agent = await startAgent({
      FLEET_CONSUL: stores.consul.endpoints.join(','),
      FLEET_NAMESPACE: ns,
      FLEET_DEVICE_ID: 'raw-1',
      FLEET_CONSUL_CHECK: 'ttl',
    });
  });

  after(async () => {
    for (const w of watches) w.signal('SIGKILL');
    agent?.child.kill('SIGKILL');
    await server?.stop();
    await stores?.stop();
  });

  test('etcd: put, get, ls; a watch of a prefix prints each put as etcd pushes it; Ctrl-C ends it', async () => {
    assert.equal(await ok(['etcd', 'put', `/${ns}/config/color`, '#ff0000']), 'OK\n');
    assert.equal(await ok(['etcd', 'get', `/${ns}/config/color`]), '#ff0000\n');
    const watching = await watch(['etcd', 'watch', `/${ns}/config/`, '--prefix']);
    await ok(['etcd', 'put', `/${ns}/config/color`, '#00ff00']);
    await ok(['etcd', 'put', `/${ns}/config/size`, '3']);
    await watching.waitFor(
      new RegExp(`PUT /${ns}/config/color #00ff00\\nPUT /${ns}/config/size 3\\n`),
      10_000,
    );
    await ctrlC(watching);
    assert.deepEqual((await ok(['etcd', 'ls', `/${ns}/config/`])).trim().split('\n'), [
      `/${ns}/config/color`,
      `/${ns}/config/size`,
    ]);
  });

  test('ZooKeeper: put makes the parents; get and ls; a watch prints data and children changes', async () => {
    assert.equal(await ok(['zookeeper', 'put', `/${ns}/config/color`, '#ff0000']), 'OK\n');
    assert.equal(await ok(['zookeeper', 'get', `/${ns}/config/color`]), '#ff0000\n');
    const watching = await watch(['zookeeper', 'watch', `/${ns}/config`]);
    await ok(['zookeeper', 'put', `/${ns}/config/size`, '3']);
    await watching.waitFor(new RegExp(`CHILDREN /${ns}/config \\[color, size\\]`), 10_000);
    await watching.signal('SIGINT');
    await watching.exitCode(10_000);
    const data = await watch(['zookeeper', 'watch', `/${ns}/config/color`]);
    await ok(['zookeeper', 'put', `/${ns}/config/color`, '#00ff00']);
    await data.waitFor(new RegExp(`PUT /${ns}/config/color #00ff00`), 10_000);
    await ctrlC(data);
    assert.equal(await ok(['zookeeper', 'ls', `/${ns}/config`]), 'color\nsize\n');
  });

  test('Consul: kv put, get, ls and watch; the services; each instance with its check type', async () => {
    assert.equal(await ok(['consul', 'kv', 'put', `${ns}/config/color`, '#ff0000']), 'OK\n');
    assert.equal(await ok(['consul', 'kv', 'get', `${ns}/config/color`]), '#ff0000\n');
    const watching = await watch(['consul', 'kv', 'watch', `${ns}/config/color`]);
    await ok(['consul', 'kv', 'put', `${ns}/config/color`, '#00ff00']);
    await watching.waitFor(new RegExp(`PUT ${ns}/config/color #00ff00`), 10_000);
    await ctrlC(watching);
    assert.equal(await ok(['consul', 'kv', 'ls', `${ns}/config/`]), `${ns}/config/color\n`);
    assert.match(await ok(['consul', 'services']), /^web$/m);
    assert.match(
      await ok(['consul', 'health', 'web']),
      /^raw-1 {2}[\d.:a-f]+:\d+ {2}passing {2}node \S+ {2}checks: serfHealth passing \(node\); service:raw-1 passing \(ttl\)$/m,
    );
  });

  test('--from the page instead of ./fleetkit.env', async () => {
    const empty = await attendeeFolder(await downloadKit(server.url));
    const result = await kit(['etcd', 'get', `/${ns}/config/color`, '--from', server.url], empty);
    assert.equal(result.code, 0, result.output);
    assert.equal(result.output, '#00ff00\n');
  });

  test('what comes back from a store is shown with its control characters escaped', async () => {
    await ok(['etcd', 'put', `/${ns}/evil`, '\u001b]0;owned\u0007\u001b[2Jred']);
    assert.equal(await ok(['etcd', 'get', `/${ns}/evil`]), '\\u001b]0;owned\\u0007\\u001b[2Jred\n');
  });

  test('no such key or node: exit 1 with a sentence; a bad path, a bad operation, an unreachable store: said so', async () => {
    const missing = await kit(['etcd', 'get', `/${ns}/nothing`]);
    assert.equal(missing.code, 1);
    assert.match(missing.output, new RegExp(`etcd: no key /${ns}/nothing`));
    const noNode = await kit(['zookeeper', 'get', `/${ns}/nothing`]);
    assert.equal(noNode.code, 1);
    assert.match(noNode.output, /ZooKeeper: no node/);
    const badPath = await kit(['zookeeper', 'get', 'fleet/config']);
    assert.equal(badPath.code, 1);
    assert.match(badPath.output, /a ZooKeeper path such as \/fleet\/config\/color: starting with \//);
    const badOp = await kit(['etcd', 'delete', '/x']);
    assert.equal(badOp.code, 2);
    assert.match(
      badOp.output,
      /node fleetkit\.mjs etcd: bad settings, nothing read or written:\n {2}delete \/x: one of: get KEY, put KEY VALUE, watch KEY, ls KEY/,
    );
    const started = Date.now();
    const down = await kit(['etcd', 'get', '/x', '--etcd', 'http://127.0.0.1:1']);
    assert.equal(down.code, 1, down.output);
    assert.match(down.output, /etcd at http:\/\/127\.0\.0\.1:1: /);
    assert.ok(Date.now() - started < 30_000, `answered in ${Date.now() - started} ms`);
  });
});
