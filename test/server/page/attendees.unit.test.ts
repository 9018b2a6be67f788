// The classroom's attendees on the page (server/page/attendees.ts): counts per attendee over the three
// stores, the filter, and the filter in the URL's hash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceView, StoreKind } from '../../../server/contract.ts';
import {
  AttendeeIndex,
  filterFromHash,
  hashWithFilter,
  matchesFilter,
  NO_ATTENDEE,
} from '../../../server/page/attendees.ts';

const device = (store: StoreKind, id: string, attendee?: string) =>
  ({ store, id, labels: attendee === undefined ? { zone: 'x' } : { attendee } }) as unknown as DeviceView;

test('a device counts once however many stores hold it; removed from all, it is gone', () => {
  const index = new AttendeeIndex();
  index.reset([
    device('etcd', 'alice-1', 'alice'),
    device('consul', 'alice-1', 'alice'),
    device('etcd', 'alice-2', 'alice'),
    device('zookeeper', 'bob-1', 'bob'),
    device('etcd', 'pi-1'),
  ]);
  assert.ok(index.hasLabel);
  assert.equal(index.total, 4);
  assert.deepEqual(index.counts(), [
    { attendee: 'alice', devices: 2 },
    { attendee: 'bob', devices: 1 },
    { attendee: NO_ATTENDEE, devices: 1 },
  ]);
  assert.equal(index.remove('etcd', 'alice-1'), true);
  assert.equal(index.counts()[0]!.devices, 2, 'alice-1 still in consul');
  assert.equal(index.remove('consul', 'alice-1'), true);
  assert.equal(index.remove('consul', 'alice-1'), false, 'not there twice');
  assert.equal(index.counts()[0]!.devices, 1);
  assert.equal(index.total, 3);
  assert.equal(index.remove('zookeeper', 'bob-1'), true);
  assert.deepEqual(
    index.counts().map((c) => c.attendee),
    ['alice', NO_ATTENDEE],
  );
});

test('an unchanged device changes nothing; a new label moves it; without any label the filter is not offered', () => {
  const index = new AttendeeIndex();
  assert.equal(index.put(device('etcd', 'pi-1')), true);
  assert.equal(index.put(device('etcd', 'pi-1')), false);
  assert.equal(index.hasLabel, false);
  assert.equal(index.put(device('etcd', 'pi-1', 'carol')), true);
  assert.ok(index.hasLabel);
  assert.deepEqual(index.counts(), [{ attendee: 'carol', devices: 1 }]);
  assert.equal(index.total, 1);
  index.put(device('etcd', 'pi-1'));
  assert.equal(index.hasLabel, false);
});

test('attendees in natural order: a2 before a10', () => {
  const index = new AttendeeIndex();
  index.reset(['a10', 'a2', 'a1', 'a33'].map((a) => device('etcd', `${a}-1`, a)));
  assert.deepEqual(
    index.counts().map((c) => c.attendee),
    ['a1', 'a2', 'a10', 'a33'],
  );
});

test('the filter: all, one attendee, or the devices without one', () => {
  assert.ok(matchesFilter(null, device('etcd', 'x', 'alice')));
  assert.ok(matchesFilter('alice', device('etcd', 'x', 'alice')));
  assert.ok(!matchesFilter('alice', device('etcd', 'x', 'bob')));
  assert.ok(!matchesFilter('alice', device('etcd', 'x')));
  assert.ok(matchesFilter(NO_ATTENDEE, device('etcd', 'x')));
  assert.ok(!matchesFilter(NO_ATTENDEE, device('etcd', 'x', 'alice')));
});

test('the filter in the hash: #attendee=NAME, "#attendee=" for none, other keys kept, names with odd characters round-trip', () => {
  assert.equal(filterFromHash(''), null);
  assert.equal(filterFromHash('#'), null);
  assert.equal(filterFromHash('#attendee=a7'), 'a7');
  assert.equal(filterFromHash('#attendee='), NO_ATTENDEE);
  assert.equal(filterFromHash('#view=stage&attendee=a7'), 'a7');
  assert.equal(hashWithFilter('', 'a7'), '#attendee=a7');
  assert.equal(hashWithFilter('#attendee=a7', null), '');
  assert.equal(hashWithFilter('#view=stage', 'a7'), '#view=stage&attendee=a7');
  for (const name of ['é lève', 'a&b=c', '#x', '<script>']) {
    assert.equal(filterFromHash(hashWithFilter('', name)), name);
  }
});
