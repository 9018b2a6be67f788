// The load a device reports from its own process (`--load-from process`): CPU time over wall time as
// % of one core, resident memory as % of the machine's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuShare, loadMeter, MIN_PROCESS_WINDOW_MS, measureLoad, memoryShare } from '../../device/load.ts';

const at = (cpuMicros: number, wallMicros: number) => ({ cpuMicros, wallMicros });

test('cpuShare: CPU time over wall time, % of one core, rounded to 0.1', () => {
  assert.equal(cpuShare(at(0, 0), at(800_000, 1_000_000)), 80);
  assert.equal(cpuShare(at(1_000, 5_000_000), at(251_000, 10_000_000)), 5);
  assert.equal(cpuShare(at(0, 0), at(1_234, 1_000_000)), 0.1);
  assert.equal(cpuShare(at(500, 0), at(500, 2_000_000)), 0, 'an idle process');
});

test('cpuShare: two busy threads read above one core and are shown as 100; clocks that did not move read 0', () => {
  assert.equal(cpuShare(at(0, 0), at(1_900_000, 1_000_000)), 100);
  assert.equal(cpuShare(at(0, 1_000), at(10, 1_000)), 0, 'no wall time passed');
  assert.equal(cpuShare(at(0, 2_000), at(10, 1_000)), 0, 'wall time went backwards');
  assert.equal(cpuShare(at(10, 0), at(0, 1_000)), 0, 'CPU time went backwards');
});

test('memoryShare: RSS as % of the machine, rounded to 0.1; nonsense reads 0', () => {
  assert.equal(memoryShare(80 * 2 ** 20, 8 * 2 ** 30), 1);
  assert.equal(memoryShare(2 ** 30, 4 * 2 ** 30), 25);
  assert.equal(memoryShare(5, 0), 0);
  assert.equal(memoryShare(Number.NaN, 100), 0);
  assert.equal(memoryShare(200, 100), 100);
});

test('the process meter: its first reading waits a short window; what it reports is a valid load of this process', async () => {
  const measure = loadMeter('process');
  const started = performance.now();
  const load = await measure();
  const firstMs = performance.now() - started;
  assert.ok(firstMs >= MIN_PROCESS_WINDOW_MS - 5, `first reading after ${firstMs} ms`);
  assert.ok(load.cpuPercent >= 0 && load.cpuPercent <= 100, JSON.stringify(load));
  assert.ok(load.load1 >= 0 && Number.isInteger(load.uptimeSeconds), JSON.stringify(load));
  assert.ok(load.temperatureC === null || Number.isFinite(load.temperatureC), JSON.stringify(load));
  const rssShare = (process.memoryUsage.rss() / (await import('node:os')).totalmem()) * 100;
  assert.ok(Math.abs(load.memUsedPercent - rssShare) < 1, `${load.memUsedPercent} vs ${rssShare}`);
  // Spin on this thread for most of a window: the next reading sees it, as an independent reading of
  // the same clocks around the spin does. (On a loaded machine the spin gets less than a core.)
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  while (performance.now() < wallBefore + 400) {}
  const busy = await measure();
  const cpu = process.cpuUsage(cpuBefore);
  const independent = ((cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)) * 100;
  assert.ok(
    busy.cpuPercent > 15 && Math.abs(busy.cpuPercent - independent) < 15,
    `after spinning: ${busy.cpuPercent} %, measured around the spin: ${independent.toFixed(1)} %`,
  );
});

test('the machine meter is the default and stays what it was', () => {
  assert.equal(loadMeter('machine'), measureLoad);
});
