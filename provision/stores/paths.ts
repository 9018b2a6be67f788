// Where the stores' programs live on this machine. Debian packages put etcd and Java on PATH;
// Consul comes from a bullseye .deb unpacked into the project's cache (see install-stores.ts).
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root: this file is `<root>/provision/stores/paths.ts`. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Gitignored cache for store programs that do not come from the system's package manager. */
export const storesCacheDir = path.join(projectRoot, '.cache', 'stores');

/** `dpkg-deb -x` target for the Consul .deb; the binary ends up at `usr/bin/consul` below it. */
export const consulCacheDir = path.join(storesCacheDir, 'consul');
export const cachedConsulBinary = path.join(consulCacheDir, 'usr', 'bin', 'consul');

/** The command that installs the stores, quoted in error messages. */
export const installCommand = 'npm run stores:install';

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function isReadable(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Like `command -v`: the first executable `name` on PATH (plus the sbin dirs a non-root PATH may lack). */
export async function findOnPath(
  name: string,
  extraDirs: readonly string[] = [],
): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The first of `candidates` that is executable. */
export async function firstExecutable(candidates: readonly string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The first of `candidates` that is readable. */
export async function firstReadable(candidates: readonly string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if (await isReadable(candidate)) return candidate;
  }
  return undefined;
}
