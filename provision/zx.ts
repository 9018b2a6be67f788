// The one zx `$` the kit runs its commands with: quiet, and its bash reads no start-up file. Import `$quiet`
// from here, never `$` from 'zx' (biome.json refuses it elsewhere).
//
// Why: zx runs each command as `bash -c '<command>'` with stdin a pipe, and Node's pipes are socket pairs.
// Bash takes a socket on stdin for an rsh/ssh connection: a non-interactive `bash -c` that also believes it
// is the top-level shell (SHLVL unset, as when a service manager or another program starts the kit) then
// sources /etc/bash.bashrc and ~/.bashrc before the command. On a machine whose .bashrc ran pyenv that cost
// ~0.9 s per `ip` call: `npm run demo` took 74 s to be ready instead of 7-12 s. `--norc` turns exactly
// that off (bash reads neither file for `-c` under it, even when started by sshd), and the commands still
// see the environment unchanged (BASH_ENV, set on purpose for non-interactive shells, still counts).
// test/provision/{demo,sim,zx}.test.ts hold it to that with a .bashrc that leaves a marker.
import { type SpawnOptions, type SpawnSyncOptions, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { $ } from 'zx';

/**
 * What Node runs for spawn(command, args, { shell }) — `shell -c '<command args>'` — with `--norc` when the
 * shell is bash. Any other call (no shell, or /bin/sh where zx finds no bash) is left as it is.
 */
export function withoutStartupFiles<O extends SpawnOptions | SpawnSyncOptions>(
  command: string,
  args: readonly string[],
  options: O,
): [string, string[], O] {
  const { shell } = options;
  if (typeof shell !== 'string' || path.basename(shell) !== 'bash') return [command, [...args], options];
  return [shell, ['--norc', '-c', [command, ...args].join(' ')], { ...options, shell: false }];
}

const spawnNoRc = ((command: string, args: readonly string[], options: SpawnOptions) =>
  spawn(...withoutStartupFiles(command, args, options))) as typeof spawn;
const spawnSyncNoRc = ((command: string, args: readonly string[], options: SpawnSyncOptions) =>
  spawnSync(...withoutStartupFiles(command, args, options))) as typeof spawnSync;

/** zx's `$`, quiet (the callers report what matters), through a bash that reads no start-up file. */
export const $quiet = $({ quiet: true, verbose: false, spawn: spawnNoRc, spawnSync: spawnSyncNoRc });
