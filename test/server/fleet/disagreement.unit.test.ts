// What the stores' disagreement looks like to the server: the flags computed from the views, the grace
// before they are shown, and what the timeline is told.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceFlags, DeviceView, StoreColor, StoreKind, StoreView } from '../../../server/contract.ts';
import {
  configDisagreement,
  Disagreement,
  NOTES_PER_MINUTE,
  rawFlags,
} from '../../../server/fleet/disagreement.ts';
import type { Note } from '../../../server/fleet/timeline.ts';
import { delay, eventually } from '../../support/eventually.ts';

const view = (store: StoreKind, over: Partial<DeviceView> = {}) =>
  ({
    store,
    id: 'pi-1',
    host: '10.0.0.5',
    port: 8080,
    color: '#2a9d8f',
    health: 'passing',
    ...over,
  }) as DeviceView;
const storeView = (store: StoreKind, color: string | null, watch = 'live') =>
  ({ store, color, watch, hidden: 0 }) as StoreView;
const ALL: StoreKind[] = ['etcd', 'zookeeper', 'consul'];

test('missing: listed stores that do not hold it, while one does; gone from all is not missing', () => {
  const flags = rawFlags('pi-1', [view('etcd')], ALL);
  assert.deepEqual(flags.missing, ['zookeeper', 'consul']);
  assert.deepEqual(rawFlags('pi-1', [view('etcd')], ['etcd']).missing, [], 'others still syncing');
  assert.deepEqual(rawFlags('pi-1', [], ALL), { id: 'pi-1', missing: [], conflict: null, colors: null });
});

test('conflict: one id at two host:ports in different stores; colors: applied colors that differ', () => {
  const flags = rawFlags(
    'pi-1',
    [view('etcd'), view('zookeeper', { port: 9090, color: '#e63946' }), view('consul', { port: 9090 })],
    ALL,
  );
  assert.equal(flags.conflict, 'etcd holds 10.0.0.5:8080; zookeeper, consul hold 10.0.0.5:9090');
  assert.deepEqual(flags.colors, [
    { store: 'etcd', color: '#2a9d8f' },
    { store: 'zookeeper', color: '#e63946' },
    { store: 'consul', color: '#2a9d8f' },
  ]);
  const agreeing = rawFlags(
    'pi-1',
    ALL.map((s) => view(s)),
    ALL,
  );
  assert.deepEqual(agreeing, { id: 'pi-1', missing: [], conflict: null, colors: null });
});

test('config colors: compared among live stores only', () => {
  assert.equal(configDisagreement(ALL.map((s) => storeView(s, 'teal'))), null);
  assert.deepEqual(configDisagreement([storeView('etcd', 'teal'), storeView('zookeeper', null)]), [
    { store: 'etcd', color: 'teal' },
    { store: 'zookeeper', color: null },
  ]);
  assert.equal(configDisagreement([storeView('etcd', 'teal'), storeView('consul', 'red', 'down')]), null);
});

test('a disagreement is shown only after the grace, cleared at once, and named in the timeline', async () => {
  const views = new Map<StoreKind, DeviceView>();
  const notes: Note[] = [];
  const sent: DeviceFlags[] = [];
  const configs: (StoreColor[] | null)[] = [];
  const disagreement = new Disagreement(
    {
      views: () => [...views.values()],
      listed: () => ALL,
      command: (store, id) => `${store} get ${id}`,
      note: (note) => notes.push(note),
      flags: (flags) => sent.push(flags),
      configColors: (colors) => configs.push(colors),
    },
    150,
  );
  try {
    // Joins etcd, then the others 50 ms later: in step within the grace, nothing flagged.
    views.set('etcd', view('etcd'));
    disagreement.check('pi-1');
    await delay(50);
    views.set('zookeeper', view('zookeeper'));
    views.set('consul', view('consul'));
    disagreement.check('pi-1');
    await delay(250);
    assert.equal(sent.length, 0);
    assert.equal(notes.length, 0);

    // Gone from etcd and ZooKeeper, still in Consul: flagged once the grace is over.
    views.delete('etcd');
    views.delete('zookeeper');
    disagreement.check('pi-1');
    assert.equal(sent.length, 0, 'not at once');
    await eventually('flagged after the grace', () => sent.length === 1, { timeoutMs: 1000 });
    assert.deepEqual(sent[0]?.missing, ['etcd', 'zookeeper']);
    assert.deepEqual(disagreement.list(), [sent[0]]);
    assert.deepEqual(notes[0], {
      kind: 'missing',
      store: 'etcd',
      deviceId: 'pi-1',
      text: 'pi-1 missing from etcd, zookeeper, still in consul',
      command: 'etcd get pi-1',
    });

    // Consul reaps it: gone everywhere, the stores agree again, at once.
    views.delete('consul');
    disagreement.check('pi-1');
    assert.deepEqual(sent.at(-1), { id: 'pi-1', missing: [], conflict: null, colors: null });
    assert.equal(notes.at(-1)?.kind, 'agreed');
    assert.equal(notes.at(-1)?.text, 'pi-1 gone from every store: the stores agree again');
    assert.deepEqual(disagreement.list(), []);

    // Config colors: differ for longer than the grace, then agree.
    const stores = [storeView('etcd', 'teal'), storeView('zookeeper', 'red'), storeView('consul', 'teal')];
    disagreement.storesChanged(stores, () => []);
    assert.equal(configs.length, 0);
    await eventually('config flagged after the grace', () => configs.length === 1, { timeoutMs: 1000 });
    assert.equal(notes.at(-1)?.kind, 'config-differs');
    assert.equal(
      notes.at(-1)?.text,
      'the stores hold different colors: etcd teal, zookeeper red, consul teal',
    );
    disagreement.storesChanged(
      stores.map((s) => ({ ...s, color: 'teal' })),
      () => [],
    );
    assert.deepEqual(configs.at(-1), null);
    assert.equal(notes.at(-1)?.kind, 'agreed');
  } finally {
    disagreement.close();
  }
});

test('a flood of disagreements is named within a budget, the rest summed up', () => {
  const notes: Note[] = [];
  const views = new Map<string, DeviceView[]>();
  const disagreement = new Disagreement(
    {
      views: (id) => views.get(id) ?? [],
      listed: () => ALL,
      command: () => undefined,
      note: (note) => notes.push(note),
      flags: () => {},
      configColors: () => {},
    },
    0,
  );
  try {
    for (let i = 0; i < 100; i++) {
      views.set(`pi-${i}`, [view('etcd', { id: `pi-${i}` })]);
      disagreement.check(`pi-${i}`);
    }
    assert.equal(disagreement.list().length, 100, 'every device flagged');
    assert.equal(notes.length, NOTES_PER_MINUTE, 'named in the timeline up to the budget this minute');
  } finally {
    disagreement.close();
  }
});
