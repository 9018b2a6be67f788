// Every `fleetkit` command takes its settings the same way (lib/cli/settings.ts): the real CLI, run as a
// user runs it. --help prints the settings (flag and FLEET_* variable) and exits 0 having done nothing;
// a bad setting exits 2, printed by the one printer, naming the setting as the user typed it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const FLEETKIT = fileURLToPath(new URL('../../provision/fleetkit.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Without the FLEET_* variables of whoever runs the tests: each case sets its own. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FLEET_')) env[name] = value;
  return { ...env, ...extra };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `node provision/fleetkit.mjs ARGS`, killed after `timeoutMs` (a --help that starts the demo would not end). */
function fleetkit(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [FLEETKIT, ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

// One flag and its variable each --help must show; the other settings are each command's own tests'.
const HELP: [command: string, flag: string, variable: string][] = [
  ['agent', '--etcd', 'FLEET_ETCD'],
  ['server', '--max-devices', 'FLEET_MAX_DEVICES'],
  ['stores', '--members', 'FLEET_STORES_MEMBERS'],
  ['install-stores', '--debian-mirror', 'FLEET_DEBIAN_MIRROR'],
  ['sim', '--control-port', 'FLEET_SIM_CONTROL_PORT'],
  ['demo', '--devices', 'FLEET_DEMO_DEVICES'],
  ['flash', '--hostname', 'FLEET_FLASH_HOSTNAME'],
  ['deploy', '--parallel', 'FLEET_DEPLOY_PARALLEL'],
  ['pick', '--strategy', 'FLEET_PICK_STRATEGY'],
];

// The time of each run is reported, not asserted: one --help takes 2-3 s alone on this 2-CPU machine
// (most of it tsx loading TypeScript) and took up to 48 s while other suites ran beside these. What
// matters is that nothing is done: no install report, no demo step, and an exit of its own (a demo that
// started would never end by itself: it is killed after 120 s, and its exit code is then not 0).
function report(t: TestContext, run: Run) {
  t.diagnostic(`exit ${run.code} in ${run.ms} ms`);
}

describe('fleetkit <command> --help: its settings, exit 0, nothing done', { concurrency: true }, () => {
  for (const [command, flag, variable] of HELP) {
    test(`${command} --help`, async (t) => {
      const run = await fleetkit([command, '--help']);
      report(t, run);
      assert.equal(run.code, 0, `exit code (stderr: ${run.stderr})`);
      assert.match(run.stdout, new RegExp(`^Usage: fleetkit ${command}\\b`, 'm'));
      assert.match(
        run.stdout,
        new RegExp(`^ {2}${flag}\\b.* ${variable}\\b`, 'm'),
        `${flag} with ${variable}`,
      );
      assert.match(run.stdout, /^ {2}--help\b/m);
      assert.equal(run.stderr, '', 'nothing on stderr');
      // install-stores would report each store and end with 'ready:'; the demo counts its steps [1/4]...
      assert.doesNotMatch(run.stdout, /^ready|\[1\/\d\]/m, 'nothing installed or started');
    });
  }
});

// One bad setting per command, by flag or by variable: exit 2, the one printer, the setting named.
const BAD: [command: string, args: string[], env: Record<string, string>, named: string][] = [
  ['agent', ['agent', '--etcd', 'http://127.0.0.1:2379', '--port', 'eighty'], {}, '--port'],
  ['server', ['server', '--etcd', 'http://127.0.0.1:2379', '--max-devices', '0'], {}, '--max-devices'],
  ['stores', ['stores', '--members', '2'], {}, '--members'],
  ['install-stores', ['install-stores', '--debian-mirror', 'http://bad mirror/'], {}, '--debian-mirror'],
  [
    'sim',
    ['sim', 'start', '--etcd', 'http://127.0.0.1:2379'],
    { FLEET_SIM_CONTROL_PORT: '70000' },
    'FLEET_SIM_CONTROL_PORT',
  ],
  ['demo', ['demo', '--devices', '999'], {}, '--devices'],
  ['flash', ['flash', '--style', 'ignition'], {}, '--style'],
  [
    'deploy',
    ['deploy', '--host', 'pi@pi-1', '--control-host', '10.0.0.1', '--parallel', '0'],
    {},
    '--parallel',
  ],
  ['pick', ['pick', '--etcd', 'http://127.0.0.1:2379', '--strategy', 'cheapest'], {}, '--strategy'],
];

describe('fleetkit <command> with a bad setting: exit 2, the setting named', { concurrency: true }, () => {
  for (const [command, args, env, named] of BAD) {
    test(`${command}: ${named}`, async (t) => {
      const run = await fleetkit(args, env);
      report(t, run);
      assert.equal(run.code, 2, `exit code (stdout: ${run.stdout}\nstderr: ${run.stderr})`);
      assert.match(run.stderr, new RegExp(`^fleetkit ${command}: bad settings, nothing \\w+:$`, 'm'));
      assert.match(run.stderr, new RegExp(`^ {2}${named}\\b`, 'm'), `${named} named`);
      assert.match(run.stderr, new RegExp(`Run \`fleetkit ${command} --help\` for every setting`));
      assert.doesNotMatch(run.stdout, /^ready|\[1\/\d\]/m, 'nothing installed or started');
    });
  }
});
