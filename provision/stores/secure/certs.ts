// The kit's CA and certificates, made with the openssl CLI (OpenSSL 3.0's `openssl ca` is the tool that
// takes -startdate; `req -x509`/`x509 -req` only gained -not_before in 3.4). Every certificate is
// backdated to 2000-01-01: a Pi has no real-time clock and starts at systemd's build date until NTP
// answers, which at a venue without internet may be never. Keys are EC P-256, made with node:crypto.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const NOT_BEFORE = '20000101000000Z';
export const VALID_YEARS = 10;

/** The simulation bridge's address (provision/sim/netns.ts): simulated devices reach the stores there. */
const SIMULATION_BRIDGE = '10.77.0.1';

export interface SubjectAltNames {
  ips: string[];
  dns: string[];
}

/** 127.0.0.1, ::1, localhost, this machine's hostname and every non-internal IPv4 now, the bridge. */
export function serverAltNames(): SubjectAltNames {
  const ips = new Set<string>(['127.0.0.1', '::1', SIMULATION_BRIDGE]);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const address of list ?? []) {
      if (address.family === 'IPv4' && !address.internal) ips.add(address.address);
    }
  }
  const dns = new Set<string>(['localhost']);
  const host = os.hostname();
  if (/^[A-Za-z0-9.-]+$/.test(host)) {
    dns.add(host);
    if (!host.endsWith('.local')) dns.add(`${host}.local`);
  }
  return { ips: [...ips], dns: [...dns] };
}

export function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** RS256 key pair for etcd's --auth-token=jwt. */
export function newJwtKeys(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function endDate(): string {
  const end = new Date();
  end.setUTCFullYear(end.getUTCFullYear() + VALID_YEARS);
  return `${end.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function opensslConfig(work: string, alt: SubjectAltNames): string {
  const altLine = [...alt.ips.map((ip) => `IP:${ip}`), ...alt.dns.map((name) => `DNS:${name}`)].join(',');
  return `[ ca ]
default_ca = kit
[ kit ]
database = ${work}/index.txt
new_certs_dir = ${work}
serial = ${work}/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[ anything ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = ${altLine}
[ client ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
`;
}

export type CertKind = 'ca' | 'server' | 'client';

/**
 * Sign a certificate for `commonName` with `keyPem`: self-signed for 'ca', else by the CA given.
 * Returns the PEM text. A failure carries openssl's own message.
 */
export async function signCertificate(options: {
  kind: CertKind;
  commonName: string;
  keyPem: string;
  ca?: { certPem: string; keyPem: string };
  alt?: SubjectAltNames;
}): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-ca-'));
  try {
    const file = (name: string) => path.join(work, name);
    await writeFile(file('openssl.cnf'), opensslConfig(work, options.alt ?? { ips: [], dns: [] }));
    await writeFile(file('index.txt'), '');
    await writeFile(file('serial'), `${randomSerial()}\n`);
    await writeFile(file('key.pem'), options.keyPem, { mode: 0o600 });
    await openssl([
      'req',
      '-new',
      '-config',
      file('openssl.cnf'),
      '-key',
      file('key.pem'),
      '-subj',
      `/CN=${options.commonName}`,
      '-out',
      file('req.csr'),
    ]);
    const signer =
      options.kind === 'ca'
        ? ['-selfsign', '-keyfile', file('key.pem')]
        : ['-cert', file('ca.pem'), '-keyfile', file('ca-key.pem')];
    if (options.kind !== 'ca') {
      if (!options.ca) throw new Error(`a ${options.kind} certificate needs the CA`);
      await writeFile(file('ca.pem'), options.ca.certPem);
      await writeFile(file('ca-key.pem'), options.ca.keyPem, { mode: 0o600 });
    }
    await openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      file('openssl.cnf'),
      ...signer,
      '-in',
      file('req.csr'),
      '-out',
      file('cert.pem'),
      '-startdate',
      NOT_BEFORE,
      '-enddate',
      endDate(),
      '-extensions',
      options.kind === 'ca' ? 'v3_ca' : options.kind,
    ]);
    return await readFile(file('cert.pem'), 'utf8');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function randomSerial(): string {
  // 8 random bytes, high bit clear so the serial is a positive number; an even count of hex digits.
  const bytes = randomBytes(8);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'openssl is not installed: run `npm run stores:install` (it installs openssl with apt)',
      );
    }
    throw new Error(
      `openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
}
