import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DeviceView, FleetChanges, StoreView } from '../../../server/contract.ts';
import { ChangeBatcher } from '../../../server/fleet/batcher.ts';

const device = (id: string, color: string | null = null) => ({ store: 'etcd', id, color }) as DeviceView;
const store = (hidden: number) => ({ store: 'consul', hidden }) as StoreView;

test('changes of one event-loop turn leave as one batch, each device and store as its last state', async () => {
  const sent: FleetChanges[] = [];
  const batcher = new ChangeBatcher((changes) => sent.push(changes));
  batcher.queue({ devices: [device('pi-1', 'red')], stores: [store(1)] });
  batcher.queue({ devices: [device('pi-1', 'blue'), device('pi-2')], stores: [store(2)] });
  assert.equal(sent.length, 0);
  await nextTurn();
  assert.equal(sent.length, 1);
  assert.deepEqual(
    sent[0]!.devices.map((d) => [d.id, d.color]),
    [
      ['pi-1', 'blue'],
      ['pi-2', null],
    ],
  );
  assert.deepEqual(sent[0]!.stores, [store(2)]);
  assert.equal('simulation' in sent[0]!, false, 'no simulation key when the simulated fleet did not change');
  await nextTurn();
  assert.equal(sent.length, 1, 'nothing queued: nothing sent');
});

test('a device added then removed in one turn leaves as gone only, and back again as a device only', async () => {
  const sent: FleetChanges[] = [];
  const batcher = new ChangeBatcher((changes) => sent.push(changes));
  batcher.queue({ devices: [device('pi-1')] });
  batcher.queue({ gone: [{ store: 'etcd', id: 'pi-1' }], simulation: null });
  await nextTurn();
  batcher.queue({ gone: [{ store: 'etcd', id: 'pi-1' }] });
  batcher.queue({ devices: [device('pi-1')] });
  await nextTurn();
  assert.deepEqual(
    sent.map((c) => [c.devices.length, c.gone.length, c.simulation]),
    [
      [0, 1, null],
      [1, 0, undefined],
    ],
  );
});
