// The LED's udev rule (device/unit.ts ledRules()), the part that acts: its RUN shell, run on a stand-in
// LED folder (root's files, 0644, as the kernel makes them), gives the group write access to trigger,
// brightness and the timer's delay files, and nothing else; then a process of another user in that
// group can write them, and one outside it cannot. (udev itself does not run here: the match keys are
// checked as text.) Needs root, as the kit's tests run here; skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { agentAccount, ledRules } from '../../device/unit.ts';

const root = process.getuid?.() === 0;

test('the rule matches the activity LED only, on add and change', () => {
  const rule = ledRules('fleetkit')
    .split('\n')
    .find((line) => line.startsWith('SUBSYSTEM'));
  assert.ok(rule);
  assert.match(rule, /^SUBSYSTEM=="leds", KERNEL=="ACT\|led0", ACTION=="add\|change", RUN\+="/);
  assert.equal(agentAccount(), 'fleetkit', "the unit's User=");
});

test("its RUN shell gives the group the LED's four files, and only them", {
  skip: !root && 'needs root',
}, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-led-'));
  chmodSync(dir, 0o755);
  try {
    for (const name of ['trigger', 'brightness', 'delay_on', 'delay_off', 'max_brightness', 'uevent']) {
      writeFileSync(path.join(dir, name), '0\n');
      chmodSync(path.join(dir, name), 0o644);
    }
    const group = 'nogroup';
    const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
    const shell = /sh -c '([^']*)'/.exec(ledRules(group))![1]!;
    // What udev runs: %p is the device's path under /sys, $$ a literal $.
    const command = shell.replaceAll('$$', '$').replace('/sys%p', dir);
    execFileSync('sh', ['-c', command]);
    for (const name of ['trigger', 'brightness', 'delay_on', 'delay_off']) {
      const file = statSync(path.join(dir, name));
      assert.equal(file.gid, gid, `${name}: the group's`);
      assert.equal(file.mode & 0o777, 0o664, `${name}: group-writable`);
    }
    for (const name of ['max_brightness', 'uevent'])
      assert.equal(statSync(path.join(dir, name)).mode & 0o777, 0o644, `${name}: untouched`);
    // Written by a user who is not root: in the group, and not.
    const write = (gids: number[]) =>
      spawnSync('sh', ['-c', `echo timer > ${path.join(dir, 'trigger')}`], {
        uid: 65534,
        gid: gids[0]!,
      }).status;
    assert.equal(write([gid]), 0, 'nobody in the group writes the trigger');
    execFileSync('chgrp', ['root', path.join(dir, 'trigger')]);
    assert.notEqual(write([gid]), 0, "and not once the file is not the group's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
