// The kit's zx `$` (provision/zx.ts), started as a service manager starts a program (SHLVL unset) with a
// ~/.bashrc that leaves a marker: zx's own `$` runs that .bashrc for every command, the kit's never does,
// and commands still get their arguments and give their exit codes as before.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withoutStartupFiles } from '../../provision/zx.ts';
import { bashrcTrap } from '../support/bashrc-trap.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `script` (an ES module body that may use `$` from zx and `$quiet` from provision/zx.ts) in a new process. */
function runInProcess(script: string, env: NodeJS.ProcessEnv): string {
  const code = `import { $ } from 'zx'; import { $quiet } from './provision/zx.ts'; ${script}`;
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('started with SHLVL unset: zx`s own $ runs ~/.bashrc (the trap is real here), the kit`s $quiet never does', (t) => {
  const trap = bashrcTrap();
  t.after(trap.remove);
  assert.equal(trap.plainBashRuns().length, 1, 'a plain bash -c, stdin a socket, runs it');

  runInProcess('await $({ quiet: true })`ip -o link show`;', trap.env());
  assert.equal(trap.runs().length, 1, 'zx as it comes runs it once per command');
  trap.clear();

  const printed = runInProcess(
    [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a template literal of the child's script
      "const words = (await $quiet`printf '<%s>' ${[\"it's\", 'a b', '$HOME']}`).stdout;",
      'const code = (await $quiet`exit 3`.nothrow()).exitCode;',
      'const sync = $quiet({ sync: true })`echo sync`.stdout.trim();',
      'process.stdout.write(JSON.stringify({ words, code, sync }));',
    ].join('\n'),
    trap.env(),
  );
  assert.deepEqual(trap.runs(), [], 'pid and command of each shell that ran it');
  assert.deepEqual(JSON.parse(printed), { words: "<it's><a b><$HOME>", code: 3, sync: 'sync' });
});

test('withoutStartupFiles: bash as the shell gets --norc; no shell, or another one, is left as it is', () => {
  assert.deepEqual(withoutStartupFiles('set -e;ip netns list', [], { shell: '/usr/bin/bash', cwd: '/' }), [
    '/usr/bin/bash',
    ['--norc', '-c', 'set -e;ip netns list'],
    { shell: false, cwd: '/' },
  ]);
  assert.deepEqual(withoutStartupFiles('ip', ['netns', 'list'], {}), ['ip', ['netns', 'list'], {}]);
  assert.deepEqual(withoutStartupFiles('true', [], { shell: '/bin/sh' }), ['true', [], { shell: '/bin/sh' }]);
  assert.deepEqual(withoutStartupFiles('true', [], { shell: true }), ['true', [], { shell: true }]);
});
