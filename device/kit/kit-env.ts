// ./fleetkit.env: what `join` learned, kept in the attendee's folder so that the kit's other commands
// there (pick, watch, etcd get ...) need no address, and the laptop's random id, so that a second
// `join` in the same folder is known as the same laptop. FLEET_* lines, read like any env file
// (lib/cli/settings.ts parseEnvFile): a hand-edited line that is wrong is named with its line number.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LIVENESS_SETTINGS, livenessEnv, STORE_SETTINGS } from '../../lib/cli/common-settings.ts';
import { parseEnvFile } from '../../lib/cli/settings.ts';
import type { StoreKind } from '../../lib/registry/index.ts';
import type { KitStores } from './stores-from-page.ts';

export const KIT_ENV_FILE = 'fleetkit.env';
export const LAPTOP_VARIABLE = 'FLEET_KIT_LAPTOP';
const LAPTOP_RE = /^[a-z0-9]{8,32}$/;

/** The class's credentials join fetched (./credentials/credentials.env), for the commands run here. */
export const CREDENTIALS_VARIABLE = 'FLEET_CREDENTIALS';

const KNOWN = new Set(
  [...STORE_SETTINGS, ...LIVENESS_SETTINGS].map((s) => s.env).concat(LAPTOP_VARIABLE, CREDENTIALS_VARIABLE),
);

/** The file's values (empty when there is none); a SettingsError naming each bad line. */
export function readKitEnv(dir = process.cwd()): Record<string, string> {
  const file = path.join(dir, KIT_ENV_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  return Object.fromEntries(
    [...parseEnvFile(text, KIT_ENV_FILE, KNOWN)].map(([key, [value]]) => [key, value]),
  );
}

/** This laptop's id as the file keeps it, or a new one (written with the rest by writeKitEnv). */
export function laptopId(values: Record<string, string>): string {
  const kept = values[LAPTOP_VARIABLE];
  return kept && LAPTOP_RE.test(kept) ? kept : randomBytes(6).toString('hex');
}

/** Writes the file whole (through a temporary file: a Ctrl-C never leaves half of it). */
export function writeKitEnv(dir: string, stores: KitStores, laptop: string): string {
  const file = path.join(dir, KIT_ENV_FILE);
  const lines = [
    `# Written by \`node fleetkit.mjs join\` from ${stores.page ?? 'the settings given'} (${new Date().toISOString()}).`,
    '# The kit commands run in this folder (pick, watch, etcd/zookeeper/consul) read it.',
    ...(Object.entries(stores.stores) as [StoreKind, string[]][]).map(
      ([store, list]) => `FLEET_${store.toUpperCase()}=${list.join(',')}`,
    ),
    `FLEET_NAMESPACE=${stores.namespace}`,
    `FLEET_SERVICE=${stores.service}`,
    ...Object.entries(livenessEnv(stores.liveness)).map(([key, value]) => `${key}=${value}`),
    // A path relative to this folder: the commands run here (the folder may be moved whole).
    ...(stores.credentialsFile
      ? [`${CREDENTIALS_VARIABLE}=${path.relative(dir, stores.credentialsFile) || stores.credentialsFile}`]
      : []),
    `${LAPTOP_VARIABLE}=${laptop}`,
    '',
  ];
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, lines.join('\n'));
  renameSync(temporary, file);
  return file;
}
