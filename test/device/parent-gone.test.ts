// An agent started with an IPC channel (by `join` or the simulated fleet) stops when that channel
// closes: a parent killed with SIGKILL must not leave its devices running, registered, forever.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRegistry } from '../../lib/registry/index.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { startAgent, storeEnv } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';

let etcd: StoreProcess;
before(async () => {
  etcd = await startStore('etcd');
});
after(() => etcd?.stop({ removeData: true }));

test('the parent gone (its IPC channel closed): the agent deregisters and exits 143', async (t) => {
  const namespace = `orphan${process.pid}`;
  const agent = await startAgent(
    { ...storeEnv({ etcd }), FLEET_NAMESPACE: namespace, FLEET_DEVICE_ID: 'orphan-1' },
    { ipc: true },
  );
  const registry = createRegistry({ store: 'etcd', endpoints: [...etcd.endpoints], namespace });
  t.after(() => registry.close());
  const watch = registry.watchInstances('web');
  await eventually('orphan-1 registered', () => watch.get('orphan-1') !== undefined, { timeoutMs: 30_000 });

  const goneAt = Date.now();
  agent.child.disconnect(); // what the agent sees when its parent dies
  const exit = await agent.exited;
  assert.equal(exit.code, 143, `exit ${JSON.stringify(exit)}; stderr: ${agent.stderr().slice(-500)}`);
  // Deregistered, not left to its lease: gone at once (the lease TTL would take its window).
  await eventually('orphan-1 gone from etcd', () => watch.get('orphan-1') === undefined, {
    timeoutMs: 10_000,
  });
  t.diagnostic(`stopped and gone ${Date.now() - goneAt} ms after its channel closed`);
  assert.match(agent.stdout() + agent.stderr(), /started this agent is gone/);
});
