// The activity LED's states, against a fake sysfs tree in a temp dir (the files a kernel offers under
// /sys/class/leds/ACT): which trigger each state writes, the timer's delays, and the patterns driven
// from the agent through `brightness`, sampled as they happen.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivityLed, BLINK_MS, CONFLICT_PATTERN, type LedStatus } from '../../device/led.ts';
import { eventually } from '../support/eventually.ts';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A fake /sys/class/leds with one LED `name` offering `triggers` (the current one in brackets). */
function fakeTree(name = 'ACT', triggers = 'none timer oneshot heartbeat default-on [mmc0] actpwr'): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fleetkit-leds-'));
  roots.push(root);
  mkdirSync(path.join(root, name));
  writeFileSync(path.join(root, name, 'trigger'), `${triggers}\n`);
  writeFileSync(path.join(root, name, 'brightness'), '0\n');
  writeFileSync(path.join(root, name, 'max_brightness'), '255\n');
  return root;
}

const read = (root: string, file: string) => readFileSync(path.join(root, file), 'utf8').trim();

/** Reads `brightness` every 5 ms for `ms`: the values seen, in order, repeats folded. */
async function sampleBrightness(file: string, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const value = readFileSync(file, 'utf8').trim();
    if (value !== '' && seen.at(-1) !== value) seen.push(value);
    await new Promise((r) => setTimeout(r, 5));
  }
  return seen;
}

const settled = (led: ActivityLed, check: (s: LedStatus) => boolean, what: string) =>
  eventually(`${what} (status: ${JSON.stringify(led.status())})`, () => check(led.status()), {
    timeoutMs: 2000,
  });

describe('activity LED on a fake sysfs tree', () => {
  it('finds ACT, keeps its own trigger while starting, and shows each state with the kernel triggers', async () => {
    const root = fakeTree();
    const led = new ActivityLed(root);
    await led.open();
    assert.equal(led.status().name, 'ACT');
    assert.equal(led.status().state, 'starting');
    assert.equal(read(root, 'ACT/trigger'), 'none timer oneshot heartbeat default-on [mmc0] actpwr');

    led.set('registered');
    await settled(led, (s) => s.shown.includes('heartbeat'), 'registered shown');
    assert.equal(read(root, 'ACT/trigger'), 'heartbeat');

    led.set('unreachable');
    await settled(led, (s) => s.shown.startsWith('fast blink'), 'unreachable shown');
    assert.equal(read(root, 'ACT/trigger'), 'timer');
    assert.equal(read(root, 'ACT/delay_on'), '100');
    assert.equal(read(root, 'ACT/delay_off'), '100');

    await led.close();
    assert.equal(read(root, 'ACT/trigger'), 'mmc0', 'the LED gets its own trigger back');
    assert.equal(led.status().state, 'stopped');
    led.set('registered'); // after close: nothing more is written
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(read(root, 'ACT/trigger'), 'mmc0');
  });

  it('conflict: two flashes and a pause, over and over, driven through brightness at max_brightness', async () => {
    const root = fakeTree();
    const led = new ActivityLed(root);
    await led.open();
    led.set('conflict');
    await settled(led, (s) => s.shown.includes('another device'), 'conflict shown');
    assert.equal(read(root, 'ACT/trigger'), 'none');
    const cycleMs = CONFLICT_PATTERN.reduce((sum, [, ms]) => sum + ms, 0);
    // Two whole cycles: at least 4 flashes (255 then 0), and the on-times are the pattern's.
    const seen = await sampleBrightness(path.join(root, 'ACT/brightness'), cycleMs * 2 + 100);
    const flashes = seen.filter((v) => v === '255').length;
    assert.ok(flashes >= 4 && flashes <= 6, `4 to 6 flashes in two cycles, saw ${seen.join(' ')}`);
    assert.deepEqual([...new Set(seen)].sort(), ['0', '255']);
    await led.close();
    const after = await sampleBrightness(path.join(root, 'ACT/brightness'), 400);
    assert.ok(after.length <= 1, `the pattern stops once closed: ${after.join(' ')}`);
    assert.equal(read(root, 'ACT/trigger'), 'mmc0');
  });

  it('color applied: 3 blinks, then back to the state it showed', async () => {
    const root = fakeTree();
    const led = new ActivityLed(root);
    await led.open();
    led.set('registered');
    await settled(led, (s) => s.shown.includes('heartbeat'), 'registered shown');
    const sampling = sampleBrightness(path.join(root, 'ACT/brightness'), BLINK_MS * 6 + 300);
    const blinked = led.blink();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(led.status().blinking, true);
    assert.equal(read(root, 'ACT/trigger'), 'none');
    // A state set meanwhile waits for the blinks, and is what shows after them.
    led.set('unreachable');
    await blinked;
    const seen = await sampling;
    assert.equal(seen.filter((v) => v === '255').length, 3, `three blinks: ${seen.join(' ')}`);
    await settled(led, (s) => !s.blinking && s.shown.startsWith('fast blink'), 'the state after the blinks');
    assert.equal(read(root, 'ACT/trigger'), 'timer');
    await led.close();
  });

  it('led0 (older kernels), without heartbeat: a slow timer blink stands in', async () => {
    const root = fakeTree('led0', 'none timer [mmc0]');
    const led = new ActivityLed(root);
    await led.open();
    assert.equal(led.status().name, 'led0');
    led.set('registered');
    await settled(led, (s) => s.shown.startsWith('slow blink'), 'registered shown');
    assert.equal(read(root, 'led0/trigger'), 'timer');
    assert.equal(read(root, 'led0/delay_on'), '100');
    assert.equal(read(root, 'led0/delay_off'), '1900');
    await led.close();
  });

  it('no such LED, or off: nothing written, and the status says why; a refused write is named', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'fleetkit-leds-'));
    roots.push(empty);
    const none = new ActivityLed(empty);
    await none.open();
    none.set('registered');
    await none.blink();
    assert.equal(none.status().name, null);
    assert.match(none.status().shown, /no ACT or led0 LED under/);

    const off = new ActivityLed(null);
    await off.open();
    assert.match(off.status().shown, /FLEET_LED_ROOT=off/);

    // A trigger the kernel refuses (here: a directory where the timer's delay_on would be).
    const root = fakeTree('ACT', 'none timer [mmc0]');
    mkdirSync(path.join(root, 'ACT/delay_on'));
    const refused = new ActivityLed(root);
    await refused.open();
    refused.set('unreachable');
    await settled(refused, (s) => s.problem !== null, 'the refusal noted');
    assert.match(refused.status().problem!, /cannot write 100 to .*ACT\/delay_on: .*EISDIR/);
    assert.equal(refused.status().shown, 'not driven');
  });
});
