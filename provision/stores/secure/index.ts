// Secure mode of the stores (`fleetkit stores --secure`): the folder of credentials made once, and
// what each store's driver needs to require them (StartOptions.secure).
import { readFile } from 'node:fs/promises';
import type { StoreCredentials } from '../../../lib/registry/index.ts';
import type { SecureFolder, SecureRole } from './types.ts';

export { makeSecureFolder } from './folder.ts';
export * from './types.ts';

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
