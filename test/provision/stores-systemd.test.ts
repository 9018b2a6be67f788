// `fleetkit stores --systemd`: unit files for the stores. This machine runs no systemd (PID 1 is not
// systemd), so the command writes the units and prints the systemctl commands; the test then does what
// systemd would: runs each unit's ExecStart= (with its Environment= and WorkingDirectory=, nothing of
// the test's own environment) and checks that each store answers at its port.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createRegistry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { projectRoot } from '../../provision/stores/paths.ts';
import { quoteArg, storeUser } from '../../provision/stores/systemd.ts';
import { eventually } from '../support/eventually.ts';
import {
  fleetkitStores,
  freeOffset,
  idsOf,
  parseUnit,
  runLikeSystemd,
  splitCommandLine,
  stopAll,
  type UnitFile,
  uidOf,
  unitsIn,
  valuesOf,
  verifyUnits,
} from '../support/systemd-units.ts';

const execFileAsync = promisify(execFile);

/** Register one device and watch it come back through the store: the store answers and serves. */
async function roundTrip(kind: StoreKind, endpoints: string[]): Promise<string> {
  const registry = createRegistry({ store: kind, endpoints, namespace: `sysd${process.pid}` });
  try {
    const members = await eventually(`${kind} answers its members`, () => registry.members(), {
      timeoutMs: 60_000,
      intervalMs: 500,
    }).then(() => registry.members());
    const watch = registry.watchInstances('web');
    const me = registry.register({ service: 'web', id: `unit-${kind}`, host: '127.0.0.1', port: 8080 });
    await eventually(`${kind}: the watch sees the device`, () => watch.get(`unit-${kind}`), {
      timeoutMs: 30_000,
    });
    await me.deregister();
    return members.map((m) => `${m.name} ${m.role}`).join(', ');
  } finally {
    await registry.close();
  }
}

describe('fleetkit stores --systemd', { timeout: 400_000 }, () => {
  let root: string;
  after(async () => {
    await stopAll();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('writes one unit per store that systemd accepts, runs the same stores, and is idempotent', async (t) => {
    root = await mkdtemp(path.join(tmpdir(), 'fleetkit-systemd-'));
    await chmod(root, 0o755); // as /var/lib is: each store's user reaches its own folder below
    const unitDir = path.join(root, 'units');
    const dataDir = path.join(root, 'data');
    const offset = await freeOffset();
    const args = ['--systemd', '--unit-dir', unitDir, '--data-dir', dataDir];
    args.push('--port-offset', String(offset), '--listen', '127.0.0.1');

    const first = await fleetkitStores(args);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /\[1\/4\] checking the stores are installed/);
    assert.match(first.output, /systemd is not running here \(PID 1 is "[^"]+"\): nothing was started/);
    assert.match(first.output, /^ {4}systemctl daemon-reload$/m);
    assert.match(
      first.output,
      /^ {4}systemctl enable --now .*fleetkit-etcd\.service .*fleetkit-consul\.service$/m,
    );
    const names = await unitsIn(unitDir);
    assert.deepEqual(names, [
      'fleetkit-consul.service',
      'fleetkit-etcd.service',
      'fleetkit-zookeeper.service',
    ]);
    for (const name of names) assert.match(first.output, new RegExp(`${name}: written`));

    const units = new Map<string, UnitFile>();
    for (const name of names) {
      const unit = parseUnit(await readFile(path.join(unitDir, name), 'utf8'));
      units.set(name, unit);
      assert.deepEqual(valuesOf(unit, 'Service', 'Restart'), ['on-failure'], name);
      assert.ok(valuesOf(unit, 'Unit', 'After').includes('network-online.target'), name);
      assert.deepEqual(valuesOf(unit, 'Install', 'WantedBy'), ['multi-user.target'], name);
      assert.equal(valuesOf(unit, 'Service', 'ExecStart').length, 1, name);
      assert.equal((await stat(path.join(unitDir, name))).mode & 0o777, 0o644);
      // Its own user, an installed program (not the project folder), hardened, writing its data only.
      const kind = /^fleetkit-(\w+)\.service$/.exec(name)![1] as StoreKind;
      assert.deepEqual(valuesOf(unit, 'Service', 'User'), [storeUser(kind)], name);
      assert.deepEqual(valuesOf(unit, 'Service', 'Group'), [storeUser(kind)], name);
      const program = splitCommandLine(valuesOf(unit, 'Service', 'ExecStart')[0]!)[0]!;
      assert.ok(path.relative(projectRoot, program).startsWith('..'), `${name}: ${program} is installed`);
      for (const [key, value] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'yes'],
        ['PrivateTmp', 'yes'],
        ['PrivateDevices', 'yes'],
        ['CapabilityBoundingSet', ''],
        ['ReadWritePaths', path.join(dataDir, kind)],
      ] as const)
        assert.deepEqual(valuesOf(unit, 'Service', key), [value], `${name}: ${key}`);
      const data = await stat(path.join(dataDir, kind));
      assert.equal(data.uid, idsOf(storeUser(kind)).uid, `${name}: its data dir is its user's`);
      assert.equal(data.mode & 0o777, 0o700, `${name}: and no one else's`);
    }
    t.diagnostic(
      `hardening of etcd's unit: ${units
        .get('fleetkit-etcd.service')!
        .entries.filter(([s, k]) => s === 'Service' && !['ExecStart', 'Environment'].includes(k))
        .map(([, k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    const verified = await verifyUnits(names.map((name) => path.join(unitDir, name)));
    t.diagnostic(`systemd-analyze verify: ${verified}`);
    // systemd's own rating of the hardening (0 best, 10 worst; the units without it rated 9.6 here).
    if (verified === 'verified') {
      for (const name of names) {
        const { stdout } = await execFileAsync('/usr/bin/systemd-analyze', [
          'security',
          '--offline=yes',
          path.join(unitDir, name),
        ]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
        const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1]);
        t.diagnostic(`systemd-analyze security ${name}: ${level}`);
        assert.ok(
          level <= 3.5,
          `${name}: exposure ${level} (measured 1.5 for etcd and Consul, 2.9 for ZooKeeper)`,
        );
      }
    }

    // A second run: the same bytes (units and config files), each said "unchanged".
    const snapshot = async () => {
      const files: Record<string, Buffer> = {};
      for (const name of await unitsIn(unitDir)) files[name] = await readFile(path.join(unitDir, name));
      for (const kind of STORE_KINDS) {
        for (const name of await readdir(path.join(dataDir, kind))) {
          files[`${kind}/${name}`] = await readFile(path.join(dataDir, kind, name));
        }
      }
      return files;
    };
    const before = await snapshot();
    const second = await fleetkitStores(args);
    assert.equal(second.code, 0, second.output);
    for (const name of names) assert.match(second.output, new RegExp(`${name}: unchanged`));
    assert.doesNotMatch(second.output, /written|updated/);
    assert.deepEqual(await snapshot(), before);

    // What systemd would do: run each ExecStart=, and the store answers where the command said.
    const endpoints = {} as Record<StoreKind, string>;
    for (const kind of STORE_KINDS) {
      const match = new RegExp(`^\\s+fleetkit-${kind}\\.service\\s+(\\S+)$`, 'm').exec(first.output);
      assert.ok(match, `${kind}: its endpoint printed`);
      endpoints[kind] = match[1] as string;
      const child = runLikeSystemd(units.get(`fleetkit-${kind}.service`) as UnitFile);
      assert.equal(await uidOf(child.pid!), idsOf(storeUser(kind)).uid, `${kind} runs as ${storeUser(kind)}`);
    }
    assert.equal(endpoints.etcd, `http://127.0.0.1:${2379 + offset}`);
    assert.equal(endpoints.zookeeper, `127.0.0.1:${2181 + offset}`);
    assert.equal(endpoints.consul, `http://127.0.0.1:${8500 + offset}`);
    for (const kind of STORE_KINDS) {
      const members = await roundTrip(kind, [endpoints[kind]]);
      t.diagnostic(`${kind} from its unit's ExecStart: ${members}`);
    }
    await stopAll();
  });

  test('--members 3: a unit per member, the old units replaced; the members form a cluster', async (t) => {
    const unitDir = path.join(root, 'units');
    const dataDir = path.join(root, 'data');
    const offset = await freeOffset();
    const args = ['--systemd', '--members', '3', '--unit-dir', unitDir, '--data-dir', dataDir];
    args.push('--port-offset', String(offset), '--listen', '127.0.0.1');
    const run = await fleetkitStores(args);
    assert.equal(run.code, 0, run.output);
    const names = await unitsIn(unitDir);
    assert.equal(names.length, 9);
    for (const kind of STORE_KINDS) {
      for (const k of [1, 2, 3]) assert.ok(names.includes(`fleetkit-${kind}-m${k}.service`));
    }
    assert.match(
      run.output,
      /removed fleetkit-consul\.service, fleetkit-etcd\.service, fleetkit-zookeeper\.service/,
    );
    assert.match(run.output, /systemctl disable --now fleetkit-consul\.service/);
    t.diagnostic(
      `systemd-analyze verify: ${await verifyUnits(names.map((name) => path.join(unitDir, name)))}`,
    );
    const zk2 = await readFile(path.join(dataDir, 'zookeeper-m2', 'zoo.cfg'), 'utf8');
    for (const k of [1, 2, 3])
      assert.match(zk2, new RegExp(`^server\\.${k}=127\\.0\\.0\\.1:${2887 + k + offset}:`, 'm'));
    assert.equal(await readFile(path.join(dataDir, 'zookeeper-m2', 'myid'), 'utf8'), '2\n');

    // etcd's and Consul's three members, each from its unit, make one cluster with a leader.
    for (const kind of ['etcd', 'consul'] as const) {
      for (const k of [1, 2, 3]) {
        runLikeSystemd(
          parseUnit(await readFile(path.join(unitDir, `fleetkit-${kind}-m${k}.service`), 'utf8')),
        );
      }
      const endpoints = [1, 2, 3].map((k) => {
        const match = new RegExp(`^\\s+fleetkit-${kind}-m${k}\\.service\\s+(\\S+)$`, 'm').exec(run.output);
        assert.ok(match, `${kind} m${k}: its endpoint printed`);
        return match[1] as string;
      });
      const registry = createRegistry({ store: kind, endpoints });
      try {
        await eventually(
          `${kind}: 3 members, one leader`,
          async () => {
            const members = await registry.members();
            return members.length === 3 && members.filter((m) => m.role === 'leader').length === 1;
          },
          { timeoutMs: 60_000, intervalMs: 500 },
        );
        t.diagnostic(
          `${kind} cluster from its units: ${(await registry.members()).map((m) => `${m.name} ${m.role}`).join(', ')}`,
        );
      } finally {
        await registry.close();
      }
      await roundTrip(kind, endpoints);
    }
    await stopAll();
  });

  test('--remove takes away only the units it wrote, and keeps the data', async () => {
    const unitDir = path.join(root, 'units');
    await writeFile(path.join(unitDir, 'someone-else.service'), '[Service]\nExecStart=/bin/true\n');
    const removed = await fleetkitStores(['--systemd', '--remove', '--unit-dir', unitDir]);
    assert.equal(removed.code, 0, removed.output);
    assert.match(removed.output, /systemd is not running here/);
    assert.deepEqual(await unitsIn(unitDir), ['someone-else.service']);
    assert.ok(existsSync(path.join(root, 'data', 'etcd-m1')), 'the data stays');
    const again = await fleetkitStores(['--systemd', '--remove', '--unit-dir', unitDir]);
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /none: nothing to remove/);

    // A unit of the same name that the kit did not write is never overwritten.
    await writeFile(path.join(unitDir, 'fleetkit-etcd.service'), '[Service]\nExecStart=/bin/true\n');
    const refused = await fleetkitStores([
      '--systemd',
      '--unit-dir',
      unitDir,
      '--data-dir',
      path.join(root, 'd2'),
    ]);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /fleetkit-etcd\.service exists and was not written by fleetkit/);
    assert.equal(
      await readFile(path.join(unitDir, 'fleetkit-etcd.service'), 'utf8'),
      '[Service]\nExecStart=/bin/true\n',
    );
  });

  test('bad settings are named, and nothing is written', async () => {
    const unitDir = path.join(root, 'bad-units');
    const bad = await fleetkitStores([
      '--systemd',
      '--unit-dir',
      `${unitDir}\nExecStartPre=/bin/sh`,
      '--port-offset',
      '70000',
      '--members',
      '2',
      '--listen',
      'not a host',
    ]);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /--unit-dir \(FLEET_STORES_UNIT_DIR\): a path without line breaks/);
    assert.match(bad.output, /--port-offset \(FLEET_STORES_PORT_OFFSET\): a whole number from 0 to \d+/);
    assert.match(bad.output, /--members \(FLEET_STORES_MEMBERS\): 1, 3 or 5/);
    assert.match(bad.output, /--listen \(FLEET_STORES_LISTEN\)/);
    assert.ok(!existsSync(unitDir));

    const notSystemd = await fleetkitStores([
      '--remove',
      '--unit-dir',
      unitDir,
      '--port-offset',
      '5',
      '--data-dir',
      path.join(root, 'bad-data'),
    ]);
    assert.equal(notSystemd.code, 2);
    for (const flag of ['remove', 'unit-dir', 'port-offset']) {
      assert.match(
        notSystemd.output,
        new RegExp(`--${flag} \\(FLEET_STORES_[A-Z_]+\\): only with --systemd`),
      );
    }
    // Each with a unit dir and a data dir of the test's own, should one of them be taken as good.
    const safe = ['--unit-dir', unitDir, '--data-dir', path.join(root, 'bad-data')];
    const valued = await fleetkitStores(['--systemd=yes', ...safe]);
    assert.equal(valued.code, 2);
    assert.match(valued.output, /--systemd: no value \(a switch/);
    // Consul's 5th member has its HTTP port at 8540 + offset.
    const tooHigh = await fleetkitStores(['--systemd', '--members', '5', '--port-offset', '57000', ...safe]);
    assert.equal(tooHigh.code, 2, tooHigh.output);
    assert.match(
      tooHigh.output,
      /--port-offset \(FLEET_STORES_PORT_OFFSET\): a whole number from 0 to 56995/,
    );
    assert.ok(!existsSync(unitDir));
  });

  test('arguments are quoted as systemd reads them', async () => {
    const odd = ['plain', 'with space', 'a"quote', 'back\\slash', '100%', '$HOME', "it's", ''];
    const line = odd.map(quoteArg).join(' ');
    assert.deepEqual(splitCommandLine(line), odd);
    assert.throws(() => quoteArg('two\nlines'), /control character/);
    const file = path.join(root, 'quoting.service');
    await mkdir(root, { recursive: true });
    await writeFile(file, `[Service]\nExecStart=/bin/echo ${line}\n`);
    await verifyUnits([file]);
  });
});
