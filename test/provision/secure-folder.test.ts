// The secure folder against damage (seeded fuzz; replay with FUZZ_SEED=<seed>): a file truncated,
// garbled, emptied, swapped for another or deleted. makeSecureFolder either repairs the folder (every
// certificate signed by the CA and matching its key, the JWT pair a pair, each credentials.env well
// formed, modes 0700/0600) or refuses with a message naming the file (never its content).
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { newKeyPem, serverAltNames, signCertificate } from '../../provision/stores/secure/certs.ts';
import { namesAll } from '../../provision/stores/secure/folder.ts';
import { makeSecureFolder, SECURE_ROLES, type SecureFolder } from '../../provision/stores/secure/index.ts';
import { fuzzSeed, mulberry32 } from '../support/fuzz.ts';

let work: string;
let template: SecureFolder;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-secure-fuzz-'));
  template = await makeSecureFolder(path.join(work, 'template'));
});
after(() => rm(work, { recursive: true, force: true }));

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(file)));
    else out.push(file);
  }
  return out.sort();
}

/** DER of the public key of a PEM text/buffer or KeyObject (private or public). */
const spki = (key: string | Buffer | KeyObject) =>
  (key instanceof KeyObject && key.type === 'public' ? key : createPublicKey(key)).export({
    type: 'spki',
    format: 'der',
  });

async function assertSound(folder: SecureFolder): Promise<void> {
  const ca = new X509Certificate(await readFile(folder.files.ca));
  assert.ok(spki(createPrivateKey(await readFile(folder.files.caKey))).equals(spki(ca.publicKey)), 'CA key');
  const pairs = [
    [folder.files.etcdServerCert, folder.files.etcdServerKey],
    ...SECURE_ROLES.map((role) => [folder.roles[role].cert, folder.roles[role].key]),
  ] as const;
  for (const [certFile, keyFile] of pairs) {
    const cert = new X509Certificate(await readFile(certFile));
    assert.ok(cert.verify(ca.publicKey), `${certFile} signed by the CA`);
    assert.ok(spki(createPrivateKey(await readFile(keyFile))).equals(spki(cert.publicKey)), `${keyFile}`);
  }
  assert.ok(
    spki(createPrivateKey(await readFile(folder.files.jwtPrivate))).equals(
      spki(await readFile(folder.files.jwtPublic, 'utf8')),
    ),
    'JWT pair',
  );
  for (const role of SECURE_ROLES) {
    assert.equal(await readFile(folder.roles[role].ca, 'utf8'), await readFile(folder.files.ca, 'utf8'));
    const lines = (await readFile(folder.roles[role].env, 'utf8'))
      .split('\n')
      .filter((l) => /^[A-Z]/.test(l));
    assert.equal(lines.length, 7, `${role}: seven settings`);
    for (const line of lines) assert.match(line, /^FLEET_[A-Z_]+=[A-Za-z0-9_.:-]+$/, `${role}: ${line}`);
  }
  for (const file of await files(folder.dir)) assert.equal((await stat(file)).mode & 0o777, 0o600, file);
  assert.equal((await stat(folder.dir)).mode & 0o777, 0o700);
}

// Measured: 40 rounds took 22.8-24.2 s (each repair runs openssl, may make an RSA-2048 JWT pair); 15 rounds 10.9-11.2 s.
test('the secure folder: damaged files are made again or refused by name, never half-used', {
  timeout: 33_000,
}, async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const random = mulberry32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const names = (await files(template.dir)).map((f) => path.relative(template.dir, f));
  let repaired = 0;
  let refused = 0;
  for (let round = 0; round < 15; round++) {
    const dir = path.join(work, `round-${round}`);
    await cp(template.dir, dir, { recursive: true });
    const damaged: string[] = [];
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
      const name = pick(names);
      const file = path.join(dir, name);
      const text = await readFile(file, 'utf8').catch(() => '');
      const how = pick(['truncate', 'garble', 'empty', 'delete', 'swap', 'inject'] as const);
      damaged.push(`${name}:${how}`);
      if (how === 'delete') await unlink(file).catch(() => undefined);
      else if (how === 'empty') await writeFile(file, '');
      else if (how === 'truncate') await writeFile(file, text.slice(0, Math.floor(random() * text.length)));
      else if (how === 'swap') await writeFile(file, await readFile(path.join(template.dir, pick(names))));
      else if (how === 'inject')
        await writeFile(file, text.replace(/"[^"]{16,}"/, '"ok\\nFLEET_ETCD_USER=root\\n0123456789"'));
      else {
        const at = Math.floor(random() * text.length);
        await writeFile(
          file,
          `${text.slice(0, at)}${String.fromCharCode(33 + Math.floor(random() * 90))}${text.slice(at + 1)}`,
        );
      }
    }
    try {
      const folder = await makeSecureFolder(dir);
      await assertSound(folder);
      repaired++;
    } catch (error) {
      const message = (error as Error).message;
      assert.match(message, /secrets\.json is not valid JSON/, `${damaged.join(', ')}: ${message}`);
      assert.ok(
        damaged.some((d) => d.startsWith('secrets.json')),
        damaged.join(', '),
      );
      refused++;
    }
  }
  t.diagnostic(`${repaired} folders repaired, ${refused} refused (secrets.json unreadable)`);
});

test('a control host on a new network: the etcd certificate that does not name its addresses is made again, with the same CA', async () => {
  const dir = path.join(work, 'moved');
  await cp(template.dir, dir, { recursive: true });
  const current = serverAltNames();
  // As made on another network: loopback only.
  const keyPem = newKeyPem();
  const old = await signCertificate({
    kind: 'server',
    commonName: 'fleetkit etcd',
    keyPem,
    ca: {
      certPem: await readFile(path.join(dir, 'ca.pem'), 'utf8'),
      keyPem: await readFile(path.join(dir, 'ca-key.pem'), 'utf8'),
    },
    alt: { ips: ['127.0.0.1'], dns: ['localhost'] },
  });
  await writeFile(path.join(dir, 'etcd-server.pem'), old);
  await writeFile(path.join(dir, 'etcd-server-key.pem'), keyPem);
  assert.equal(namesAll(old, current), false, "the old one lacks the bridge's and this machine's addresses");
  const caBefore = await readFile(path.join(dir, 'ca.pem'), 'utf8');

  const again = await makeSecureFolder(dir);
  const made = await readFile(path.join(dir, 'etcd-server.pem'), 'utf8');
  assert.equal(again.created, false, 'the CA is kept');
  assert.equal(await readFile(path.join(dir, 'ca.pem'), 'utf8'), caBefore);
  assert.notEqual(made, old, 'a new server certificate');
  assert.ok(namesAll(made, current), `it names ${current.ips.join(', ')} and ${current.dns.join(', ')}`);
  const san = new X509Certificate(made).subjectAltName ?? '';
  for (const ip of current.ips.filter((a) => !a.includes(':')))
    assert.match(san, new RegExp(`IP Address:${ip.replaceAll('.', '\\.')}\\b`));

  // Nothing moved since: the next run keeps it byte for byte.
  await makeSecureFolder(dir);
  assert.equal(await readFile(path.join(dir, 'etcd-server.pem'), 'utf8'), made);
});
