// Every systemd unit the kit writes passes `systemd-analyze verify` (Debian's systemd, which needs no
// systemd as PID 1): the agent's unit (device/fleetkit-agent.service, which flash and deploy install),
// flash's fleetkit-setup.service, and the stores' units of `fleetkit stores --systemd`. Each is checked
// in a root folder of its own (--root) holding the system's units and the programs the units run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installPaths } from '../../device/unit.ts';
import { STORE_KINDS } from '../../lib/registry/index.ts';
import { setupUnit } from '../../provision/flash/agent-files.ts';
import { ensureTools, UNIT_TEST_TOOLS } from '../../provision/flash/tools.ts';
import { planUnits, renderUnit } from '../../provision/stores/systemd.ts';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const work = mkdtempSync(path.join(tmpdir(), 'fleetkit-units-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A root with the system's own units (multi-user.target, network-online.target, ...) and no more. */
function makeRoot(name: string): string {
  const root = path.join(work, name);
  mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true });
  mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
  return root;
}

/** An executable at `file` inside the root: what the unit's ExecStart= names must exist. */
function program(root: string, file: string) {
  const inside = path.join(root, file);
  mkdirSync(path.dirname(inside), { recursive: true });
  writeFileSync(inside, '#!/bin/sh\n');
  chmodSync(inside, 0o755);
}

function verify(root: string, units: Record<string, string>) {
  const files = Object.entries(units).map(([name, text]) => {
    const file = path.join(root, 'etc/systemd/system', name);
    writeFileSync(file, text);
    return file;
  });
  const result = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', `--root=${root}`, ...files], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe('systemd-analyze verify', () => {
  // Debian's systemd package, installed only when missing (as root, or with sudo -n).
  before(() => ensureTools(UNIT_TEST_TOOLS, { log: (line) => process.stderr.write(`# ${line}\n`) }));

  test("the agent's unit and flash's setup unit, with Node.js at the unit's absolute path", (t) => {
    const on = installPaths();
    const agentUnit = readFileSync(new URL('../../device/fleetkit-agent.service', import.meta.url), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(agentUnit)?.[1] ?? '';
    assert.equal(
      execStart,
      `/opt/fleetkit/node/bin/node --lite-mode ${on.agent}`,
      'absolute node, no env lookup',
    );
    assert.equal(on.node, '/opt/fleetkit/node/bin/node');

    const root = makeRoot('pi');
    program(root, on.node);
    program(root, '/bin/sh'); // fleetkit-setup.service: ExecStart=/bin/sh /opt/fleetkit/setup.sh
    mkdirSync(path.join(root, on.configDir), { recursive: true });
    writeFileSync(path.join(root, on.env), 'FLEET_ETCD=http://10.0.0.1:2379\n');
    const started = Date.now();
    const result = verify(root, {
      'fleetkit-agent.service': agentUnit,
      'fleetkit-setup.service': setupUnit(),
    });
    t.diagnostic(`verified in ${Date.now() - started} ms${result.output ? `: ${result.output}` : ''}`);
    assert.equal(result.code, 0, result.output);
    assert.equal(result.output, '', 'no warnings either');

    // The check can fail: without Node.js where the unit says, systemd-analyze names it.
    rmSync(path.join(root, on.node));
    const missing = verify(root, { 'fleetkit-agent.service': agentUnit });
    assert.notEqual(missing.code, 0);
    assert.match(missing.output, /Command \/opt\/fleetkit\/node\/bin\/node is not executable/);
  });

  test("the stores' units (fleetkit stores --systemd): one of each, and a 3-member cluster of each", async (t) => {
    const root = makeRoot('control-host');
    const units: Record<string, string> = {};
    for (const kind of STORE_KINDS) {
      for (const members of [1, 3]) {
        const planned = await planUnits(kind, {
          members,
          host: '127.0.0.1',
          dataDir: path.join('/var/lib/fleetkit', `members-${members}`),
          portOffset: members === 1 ? 0 : 100,
        });
        for (const unit of planned) {
          program(root, unit.spec.command);
          mkdirSync(path.join(root, unit.context.dataDir), { recursive: true });
          units[unit.unitName.replace('.service', `-${members}.service`)] = renderUnit(
            unit,
            'fleetkit stores --systemd --remove',
          );
        }
      }
    }
    assert.equal(Object.keys(units).length, 3 * (1 + 3));
    const result = verify(root, units);
    t.diagnostic(`${Object.keys(units).length} units${result.output ? `: ${result.output}` : ''}`);
    assert.equal(result.code, 0, result.output);
  });
});
