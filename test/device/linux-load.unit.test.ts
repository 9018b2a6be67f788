// The machine's load on Linux from /proc/stat and /sys (device/linux-load.ts): parsed without a shell,
// the sensor found once in systeminformation's order, anything odd in those files read as no value.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  busyPercent,
  findTemperatureSensor,
  parseProcStat,
  procStatMeter,
  readTemperature,
  sysfsTemperatureMeter,
} from '../../device/linux-load.ts';
import { measureLoad } from '../../device/load.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** A fake /sys/class: `files` maps paths under it to contents. */
async function sysClass(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'fleetkit-sysclass-'));
  dirs.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

test('parseProcStat: busy and total from the aggregate cpu line; iowait counts as idle time', () => {
  const stat = 'cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\nintr 1 2 3\n';
  assert.deepEqual(parseProcStat(stat), { busy: 100 + 5 + 50 + 3 + 2 + 1, total: 161 + 1000 + 20 });
  assert.deepEqual(parseProcStat('cpu  1 2 3 4\n'), { busy: 6, total: 10 }, 'an old kernel: four fields');
  assert.equal(parseProcStat('cpu0 1 2 3 4\n'), null, 'no aggregate line');
  assert.equal(parseProcStat('cpu  1 2 x 4\n'), null);
  assert.equal(parseProcStat('cpu  1 2\n'), null);
  assert.equal(parseProcStat(''), null);
});

test('busyPercent: busy over total between readings; no time or a counter going back reads 0', () => {
  assert.equal(busyPercent({ busy: 0, total: 0 }, { busy: 25, total: 100 }), 25);
  assert.equal(busyPercent({ busy: 25, total: 100 }, { busy: 75, total: 200 }), 50);
  assert.equal(busyPercent({ busy: 25, total: 100 }, { busy: 25, total: 100 }), 0);
  assert.equal(busyPercent({ busy: 25, total: 100 }, { busy: 20, total: 200 }), 0);
});

test('procStatMeter on this machine: a % between readings, and a spin on this thread shows', async () => {
  const meter = procStatMeter();
  const first = await meter();
  assert.ok(first >= 0 && first <= 100, String(first));
  const until = performance.now() + 300;
  while (performance.now() < until) {}
  const busy = await meter();
  assert.ok(busy > 0 && busy <= 100, `after a 300 ms spin: ${busy} %`);
});

test('the sensor: a hwmon input labelled as the package first, then the cores, then a CPU thermal zone, then zone 0', async () => {
  const pkg = await sysClass({
    'hwmon/hwmon0/temp1_label': 'acpitz\n',
    'hwmon/hwmon0/temp1_input': '20000\n',
    'hwmon/hwmon1/temp1_label': 'Package id 0\n',
    'hwmon/hwmon1/temp1_input': '48500\n',
    'hwmon/hwmon1/temp2_label': 'Core 0\n',
    'hwmon/hwmon1/temp2_input': '40000\n',
    'thermal/thermal_zone0/type': 'cpu-thermal\n',
    'thermal/thermal_zone0/temp': '60000\n',
  });
  const found = await findTemperatureSensor(pkg);
  assert.equal(found?.source, 'hwmon hwmon1 package id 0');
  assert.equal(await readTemperature(found!), 48.5);

  const cores = await sysClass({
    'hwmon/hwmon2/temp2_label': 'Core 0',
    'hwmon/hwmon2/temp2_input': '40000',
    'hwmon/hwmon2/temp3_label': 'Core 1',
    'hwmon/hwmon2/temp3_input': '44000',
  });
  assert.equal(await readTemperature((await findTemperatureSensor(cores))!), 42);

  // A Raspberry Pi: its hwmon input has no label; the thermal zone names the CPU.
  const pi = await sysClass({
    'hwmon/hwmon0/name': 'cpu_thermal',
    'hwmon/hwmon0/temp1_input': '51540',
    'thermal/thermal_zone0/type': 'cpu-thermal',
    'thermal/thermal_zone0/temp': '51540',
  });
  const piSensor = await findTemperatureSensor(pi);
  assert.equal(piSensor?.source, 'thermal cpu-thermal');
  assert.equal(await readTemperature(piSensor!), 51.54);

  const zone0 = await sysClass({
    'thermal/thermal_zone0/type': 'soc',
    'thermal/thermal_zone0/temp': '30000',
  });
  assert.equal((await findTemperatureSensor(zone0))?.source, 'thermal_zone0');

  assert.equal(await findTemperatureSensor(await sysClass({})), null, 'a VM: no sensor');
  assert.equal(await findTemperatureSensor(path.join(tmpdir(), 'fleetkit-no-such-dir')), null);
});

test('the temperature meter looks for the sensor once; a file that stops reading as a number reads null', async () => {
  const root = await sysClass({
    'thermal/thermal_zone0/type': 'cpu-thermal',
    'thermal/thermal_zone0/temp': '50000',
  });
  const meter = sysfsTemperatureMeter(root);
  assert.equal(await meter(), 50);
  await writeFile(path.join(root, 'thermal/thermal_zone0/temp'), 'garbage');
  assert.equal(await meter(), null);
  // A sensor appearing later is not looked for again (they do not appear at run time).
  const empty = await sysClass({});
  const none = sysfsTemperatureMeter(empty);
  assert.equal(await none(), null);
  await mkdir(path.join(empty, 'thermal/thermal_zone0'), { recursive: true });
  await writeFile(path.join(empty, 'thermal/thermal_zone0/temp'), '50000');
  assert.equal(await none(), null);
});

test('fuzz: any /proc/stat text and any sensor file content parse to a valid figure or to nothing', async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const fuzz = new Fuzz(seed);
  const pieces = [
    'cpu',
    'cpu ',
    'cpu0',
    ' ',
    '  ',
    '\n',
    '-1',
    '0',
    '7',
    '1e3',
    '9007199254740993',
    'x',
    '',
    '\t',
  ];
  const root = await sysClass({ 'thermal/thermal_zone0/type': 'cpu' });
  const temp = path.join(root, 'thermal/thermal_zone0/temp');
  for (let i = 0; i < 2000; i++) {
    const text = Array.from({ length: fuzz.int(24) }, () =>
      fuzz.chance(0.8) ? fuzz.pick(pieces) : String(fuzz.int(1e9)),
    ).join(fuzz.chance(0.5) ? ' ' : '');
    const parsed = parseProcStat(text);
    if (parsed !== null) {
      assert.ok(
        Number.isSafeInteger(parsed.busy) && parsed.busy >= 0,
        `seed ${seed}: ${JSON.stringify(text)}`,
      );
      assert.ok(parsed.total >= parsed.busy, `seed ${seed}: ${JSON.stringify(text)}`);
      const percent = busyPercent({ busy: 0, total: 0 }, parsed);
      assert.ok(percent >= 0 && percent <= 100, JSON.stringify(text));
    }
    if (i % 20 === 0) {
      await writeFile(temp, text);
      const reading = await readTemperature({ files: [temp], source: 'fuzz' });
      assert.ok(
        reading === null || (Number.isFinite(reading) && Math.abs(reading) < 10_000),
        JSON.stringify(text),
      );
    }
  }
});

test('measureLoad on this machine (Linux) reads a valid load', {
  skip: process.platform !== 'linux',
}, async () => {
  const load = await measureLoad();
  assert.ok(load.cpuPercent >= 0 && load.cpuPercent <= 100, JSON.stringify(load));
  assert.ok(load.memUsedPercent > 0 && load.memUsedPercent <= 100, JSON.stringify(load));
  assert.ok(load.temperatureC === null || Number.isFinite(load.temperatureC), JSON.stringify(load));
});
