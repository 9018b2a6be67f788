// `fleetkit stores`: the control host's stores in the foreground, data kept between runs, Ctrl-C stops them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createRegistry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { FLEETKIT } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';

async function runStores(dataDir: string) {
  const child = spawn(
    process.execPath,
    [FLEETKIT, 'stores', '--data-dir', dataDir, '--listen', '127.0.0.1'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(`the stores are ready (${output.slice(-400)})`, () => /^ready:/m.test(output), {
    timeoutMs: 60_000,
  });
  const endpoints = {} as Record<StoreKind, string>;
  for (const kind of STORE_KINDS) {
    const match = new RegExp(`^\\s+${kind}\\s+(\\S+)\\s+(.*)$`, 'm').exec(output);
    assert.ok(match, `${kind}: endpoint and members printed`);
    assert.match(match[2]!, /leader|standalone/, `${kind}: its members and who leads`);
    endpoints[kind] = match[1]!;
  }
  return {
    endpoints,
    output: () => output,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

test('fleetkit stores: runs the three stores, keeps their data between runs, Ctrl-C stops them', {
  timeout: 180_000,
}, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'fleetkit-stores-'));
  try {
    const first = await runStores(dataDir);
    // The page's store controls: their address and secret in a file only this user reads, named in the
    // output (never the secret itself), the API answering with them; gone after Ctrl-C.
    const controlFile = path.join(dataDir, 'store-control.env');
    assert.match(first.output(), new RegExp(`fleetkit server --env-file ${controlFile}`));
    assert.equal((await stat(controlFile)).mode & 0o777, 0o600);
    const settings = Object.fromEntries(
      (await readFile(controlFile, 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('FLEET_'))
        .map((line) => line.split('=') as [string, string]),
    );
    assert.ok(!first.output().includes(settings.FLEET_STORE_CONTROL_SECRET!), 'the secret is not printed');
    const listed = await fetch(`${settings.FLEET_STORE_CONTROL}/stores`, {
      headers: { authorization: `Bearer ${settings.FLEET_STORE_CONTROL_SECRET}` },
    });
    assert.equal(listed.status, 200);
    const stores = (await listed.json()) as { store: string; members: { state: string }[] }[];
    assert.deepEqual(
      stores.map((store) => `${store.store} ${store.members.map((m) => m.state).join(',')}`),
      STORE_KINDS.map((kind) => `${kind} running`),
    );
    for (const kind of STORE_KINDS) {
      const registry = createRegistry({ store: kind, endpoints: [first.endpoints[kind]] });
      await registry.setConfig('color', 'teal');
      await registry.close();
    }
    assert.equal(await first.stop(), 130);
    assert.match(first.output(), /^stopped$/m);
    assert.equal(existsSync(controlFile), false, 'the control file is removed at Ctrl-C');

    const second = await runStores(dataDir);
    try {
      for (const kind of STORE_KINDS) {
        const registry = createRegistry({ store: kind, endpoints: [second.endpoints[kind]] });
        assert.equal(await registry.getConfig('color'), 'teal', `${kind} kept its data`);
        await registry.close();
      }
    } finally {
      assert.equal(await second.stop(), 130);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
