// `npm run demo -- ARGS` spawned as a terminal would (its own process group: Ctrl-C is
// process.kill(-pid, 'SIGINT')), its stdout and stderr gathered, and what it prints read back.
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { eventually } from './eventually.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DemoRun {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything printed so far (stdout and stderr as they came). */
  output(): string;
  /** The exit code once it has exited. */
  exited: Promise<number | null>;
  /** Waits for its `ready in` line; the error shows the last `tail` characters printed. */
  ready(timeoutMs: number, tail: number): Promise<void>;
  /** The endpoint it printed for each store (a trailing comma dropped); an assertion fails for one not printed. */
  endpoints(): Record<StoreKind, string>;
}

export function spawnDemo(args: string[], env: NodeJS.ProcessEnv): DemoRun {
  const child = spawn('npm', ['run', '--silent', 'demo', '--', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    // Its own process group, as in a terminal: Ctrl-C signals the whole group (npm, its shell, the demo).
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    ready: (timeoutMs, tail) =>
      eventually(
        `the demo is ready (output so far: ${output.slice(-tail)})`,
        () => /^ready in /m.test(output),
        {
          timeoutMs,
        },
      ).then(() => undefined),
    endpoints() {
      const endpoints = {} as Record<StoreKind, string>;
      for (const kind of STORE_KINDS) {
        const match = new RegExp(`^\\s+${kind}\\s+(\\S+)`, 'm').exec(output);
        assert.ok(match, `the demo prints the ${kind} endpoint`);
        endpoints[kind] = match[1]!.replace(/,$/, '');
      }
      return endpoints;
    },
  };
}
