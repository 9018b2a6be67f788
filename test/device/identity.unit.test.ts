import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressTowards, findAdvertisedHost, toDeviceId } from '../../device/identity.ts';
import { loadChanged } from '../../device/load.ts';

test('device ids from what the hardware says', () => {
  assert.equal(toDeviceId('10000000c0ffee42\0'), '10000000c0ffee42');
  assert.equal(toDeviceId('3d1219c7c4c5404aaa1f6d2a48adfda4\n'), '3d1219c7c4c5404aaa1f6d2a48adfda4');
  assert.equal(toDeviceId('my pi/zero'), 'my-pi-zero');
  assert.equal(toDeviceId('\0\n'), undefined);
});

test('the advertised host is the address that routes to the stores', async () => {
  assert.equal(await addressTowards('127.0.0.1', 2379), '127.0.0.1');
  assert.equal(await findAdvertisedHost([{ host: '127.0.0.1', port: 2181 }]), '127.0.0.1');
  await assert.rejects(findAdvertisedHost([{ host: 'no-such-host.invalid', port: 1 }]), /set FLEET_HOST/);
});

test('load: only a change worth a write counts; uptime alone never does', () => {
  const load = { cpuPercent: 10, load1: 0.5, memUsedPercent: 40, temperatureC: 50, uptimeSeconds: 100 };
  assert.equal(loadChanged(null, load), true);
  assert.equal(loadChanged(load, { ...load, uptimeSeconds: 999 }), false);
  assert.equal(loadChanged(load, { ...load, cpuPercent: 11.9 }), false);
  assert.equal(loadChanged(load, { ...load, cpuPercent: 12 }), true);
  assert.equal(loadChanged(load, { ...load, temperatureC: null }), true);
});
