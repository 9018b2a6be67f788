// Secure mode of the stores (`fleetkit stores --secure`): the folder of credentials made once, and
// what each store's driver needs to require them (StartOptions.secure).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { StoreCredentials } from '../../../lib/registry/index.ts';
import { makeSecureFolder } from './folder.ts';
import type { SecureFolder, SecureRole } from './types.ts';

export { makeSecureFolder } from './folder.ts';
export * from './types.ts';

/** The secure folder under a data dir, made once (`fleetkit stores --secure`, `demo --secure`). */
export function secureFolderOf(dataDir: string): string {
  return path.join(dataDir, 'secure');
}

/** Make or reuse the secure folder, saying where it is and which folder goes to the Pis; no secret printed. */
export async function prepareSecureFolder(dir: string, say: (line: string) => void): Promise<SecureFolder> {
  const started = Date.now();
  const folder = await makeSecureFolder(dir);
  say(
    `  credentials: ${folder.created ? 'made' : 'reused'} ${folder.dir} (0700) in ${Date.now() - started} ms`,
  );
  say(`  the Pis get the folder ${folder.roles.device.dir} (flash and deploy carry it whole)`);
  say(`  the server: FLEET_CREDENTIALS=${folder.roles.server.env}`);
  say(`  the kit's own setup and tests (root/master/super; never to a Pi): ${folder.roles.admin.env}`);
  return folder;
}

/** The default namespace the roles' permissions are made for. */
export const DEFAULT_SECURE_NAMESPACE = 'fleet';

/** A role's credentials.env as KEY → value (PEM paths made absolute). */
export async function roleSettings(folder: SecureFolder, role: SecureRole): Promise<Record<string, string>> {
  const own = folder.roles[role];
  const text = await readFile(own.env, 'utf8');
  const settings: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    settings[key] = /^FLEET_ETCD_(CA|CERT|KEY)$/.test(key) ? `${own.dir}/${value}` : value;
  }
  return settings;
}

/** A role's StoreCredentials (lib/registry/credentials.ts), PEM text read from its files. */
export async function roleCredentials(folder: SecureFolder, role: SecureRole): Promise<StoreCredentials> {
  const s = await roleSettings(folder, role);
  const pem = (key: string) => (s[key] ? readFile(s[key] as string, 'utf8') : Promise.resolve(undefined));
  const [ca, cert, key] = await Promise.all([
    pem('FLEET_ETCD_CA'),
    pem('FLEET_ETCD_CERT'),
    pem('FLEET_ETCD_KEY'),
  ]);
  return {
    etcd: { username: s.FLEET_ETCD_USER, password: s.FLEET_ETCD_PASSWORD, ca, cert, key },
    consul: { token: s.FLEET_CONSUL_TOKEN },
    zookeeper: { auth: s.FLEET_ZOOKEEPER_AUTH },
  };
}
