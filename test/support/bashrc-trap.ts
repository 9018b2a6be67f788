// A HOME whose ~/.bashrc leaves a marker, and the environment of a program started the way a service
// manager starts it (SHLVL unset). Bash sources ~/.bashrc for a `bash -c` whose stdin is a socket (Node's
// child pipes are socket pairs) when it believes it is the top-level shell (SHLVL unset): the trap the
// kit's commands fell into (a .bashrc running pyenv made `npm run demo` take 74 s). For checking that
// nothing the kit runs reads the user's start-up files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BashrcTrap {
  home: string;
  /** `base` with HOME pointed at the trap and SHLVL removed, as `env -u SHLVL HOME=...` would start it. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** One line per shell that ran the .bashrc: its pid and its `-c` command. */
  runs(): string[];
  /** Forgets the runs so far. */
  clear(): void;
  /** The marker a plain `bash -c true` started with this environment and stdin a socket pair leaves. */
  plainBashRuns(): string[];
  remove(): void;
}

export function bashrcTrap(): BashrcTrap {
  const home = mkdtempSync(path.join(os.tmpdir(), 'fleetkit-bashrc-'));
  const marker = path.join(home, 'bashrc-ran');
  writeFileSync(
    path.join(home, '.bashrc'),
    `printf '%s %s\\n' "$$" "$BASH_EXECUTION_STRING" >> '${marker}'\n`,
  );
  const env = (base: NodeJS.ProcessEnv = process.env) => {
    const { SHLVL: _, ...rest } = base;
    return { ...rest, HOME: home };
  };
  const runs = () => {
    try {
      return readFileSync(marker, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const clear = () => rmSync(marker, { force: true });
  return {
    home,
    env,
    runs,
    clear,
    plainBashRuns() {
      clear();
      spawnSync('bash', ['-c', 'true'], { env: env(), stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
      const seen = runs();
      clear();
      return seen;
    },
    remove: () => rmSync(home, { recursive: true, force: true }),
  };
}
