// The card's first-boot scripts run for real, as root, in a stand-in for a Pi: a root folder in a mount
// namespace of its own (unshare), with this machine's /usr under an overlay (writes land in a temp
// folder), a copy of its /etc, the flashed card bound at /boot/firmware, and chroot. Nothing outside the
// temp folder changes. This is not Raspberry Pi OS: its Pi-only tools are stand-ins (userconf,
// raspi-config, which log their arguments), and so is the Node.js build where a branch needs one that runs
// here (the x64 build of the same version, from the kit's cache). The Debian arm64 chroot under qemu
// (test/field/) runs them on a real Debian root.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../provision/flash/main.ts';
import { type NodeBuild, nodeBuild } from '../../provision/node/index.ts';

const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), 'fleetkit-first-boot-'));
after(() => rmSync(work, { recursive: true, force: true }));

const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 rootwait\n';
let card: string;
let arm64: NodeBuild;
let x64: NodeBuild;

function sshKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const part = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
  return `ssh-ed25519 ${Buffer.concat([part(Buffer.from('ssh-ed25519')), part(raw)]).toString('base64')} test`;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The card as flash wrote it, in a folder of this test's own. */
function cardCopy(name: string): string {
  const dir = path.join(work, name, 'card');
  mkdirSync(dir, { recursive: true });
  cpSync(card, dir, { recursive: true });
  return dir;
}

/** Swaps the card's build for another tgz, with its .sha256 and install.sh's NODE_BUILD to match. */
function swapBuild(dir: string, tgz: Buffer, fileName: string) {
  const fleetkit = path.join(dir, 'fleetkit');
  for (const name of readdirSync(fleetkit)) if (name.startsWith('node-v')) rmSync(path.join(fleetkit, name));
  writeFileSync(path.join(fleetkit, fileName), tgz);
  writeFileSync(path.join(fleetkit, `${fileName}.sha256`), `${sha256(tgz)}  ${fileName}\n`);
  const install = path.join(fleetkit, 'install.sh');
  writeFileSync(install, readFileSync(install, 'utf8').replace(/^NODE_BUILD=.*$/m, `NODE_BUILD=${fileName}`));
}

interface PiRoot {
  root: string;
  upper: string;
}

/** A root folder for one run: its /etc a copy of this machine's, /opt and /home empty. */
function makePi(name: string): PiRoot {
  const base = path.join(work, name);
  const root = path.join(base, 'root');
  for (const dir of ['root', 'upper', 'overlay-work']) mkdirSync(path.join(base, dir), { recursive: true });
  for (const dir of ['usr', 'opt', 'boot/firmware', 'tmp', 'dev', 'proc', 'var/log', 'home', 'run'])
    mkdirSync(path.join(root, dir), { recursive: true });
  for (const link of ['bin', 'lib', 'sbin', 'lib64'])
    execFileSync('ln', ['-s', `usr/${link}`, path.join(root, link)]);
  cpSync('/etc', path.join(root, 'etc'), { recursive: true, verbatimSymlinks: true });
  return { root, upper: path.join(base, 'upper') };
}

/**
 * Runs `command` chrooted in the Pi's root, inside a mount namespace: /usr is this machine's under an
 * overlay (stand-ins written into `usrFiles` land in the overlay only), the card at /boot/firmware.
 */
function runOnPi(pi: PiRoot, cardDir: string, command: string, usrFiles: Record<string, string> = {}) {
  const base = path.dirname(pi.root);
  const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const setup = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=/usr,upperdir=${q(pi.upper)},workdir=${q(path.join(base, 'overlay-work'))} ${q(path.join(pi.root, 'usr'))}`,
    `mount --bind /dev ${q(path.join(pi.root, 'dev'))}`,
    `mount -t proc proc ${q(path.join(pi.root, 'proc'))}`,
    `mount --bind ${q(cardDir)} ${q(path.join(pi.root, 'boot/firmware'))}`,
    ...Object.entries(usrFiles).flatMap(([file, text]) => [
      `mkdir -p ${q(path.join(pi.root, path.dirname(file)))}`,
      `printf '%s' ${q(text)} > ${q(path.join(pi.root, file))}`,
      `chmod 755 ${q(path.join(pi.root, file))}`,
    ]),
    `exec chroot ${q(pi.root)} /bin/sh -c ${q(command)}`,
  ].join('\n');
  const started = Date.now();
  const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', setup], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}`, ms: Date.now() - started };
}

const inRoot = (pi: PiRoot, file: string) => path.join(pi.root, file);
/** Enabled: systemctl made the link (absolute inside the Pi, so it is not followed here). */
const wants = (pi: PiRoot, unit: string) => {
  try {
    return lstatSync(inRoot(pi, `etc/systemd/system/multi-user.target.wants/${unit}`)).isSymbolicLink();
  } catch {
    return false;
  }
};

describe('first-boot scripts on a stand-in Pi (mount namespace, chroot)', {
  skip: !isRoot && 'needs root',
}, () => {
  before(async () => {
    const log = (line: string) => process.stderr.write(`# ${line}\n`);
    [arm64, x64] = [await nodeBuild('arm64', { log }), await nodeBuild('x64', { log })];
    card = path.join(work, 'flashed');
    mkdirSync(card);
    writeFileSync(path.join(card, 'cmdline.txt'), CMDLINE);
    writeFileSync(path.join(card, 'kernel8.img'), 'k');
    const key = path.join(work, 'key.pub');
    writeFileSync(key, `${sshKey()}\n`);
    const errors: string[] = [];
    const code = await main(
      [
        '--boot',
        card,
        '--hostname',
        'pi-stage',
        '--user',
        'fleet',
        '--ssh-key',
        key,
        '--wifi-ssid',
        'venue',
        '--wifi-passphrase',
        'correct horse',
        '--wifi-country',
        'GB',
        '--control-host',
        '10.9.8.7',
      ],
      {},
      { out: () => {}, err: (line) => errors.push(line) },
    );
    assert.equal(code, 0, errors.join('\n'));
    assert.ok(existsSync(path.join(card, `fleetkit/node-v${arm64.version}-linux-arm64.tgz`)));
  });

  test("install.sh: the card's build, checked and unpacked into /opt/fleetkit/node; the agent enabled", (t) => {
    const dir = cardCopy('install-ok');
    // The same version for this machine's CPU, so that the unpacked node runs here as it would on a Pi.
    swapBuild(dir, readFileSync(x64.file), `node-v${x64.version}-linux-x64.tgz`);
    const pi = makePi('install-ok');
    const run = runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh');
    t.diagnostic(`install.sh in ${run.ms} ms`);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, new RegExp(`installed Node\\.js v${x64.version} from the card`));
    const node = inRoot(pi, 'opt/fleetkit/node/bin/node');
    assert.equal(execFileSync(node, ['--version']).toString().trim(), `v${x64.version}`);
    assert.deepEqual(readdirSync(inRoot(pi, 'opt/fleetkit/node')).sort(), ['LICENSE', 'bin']);
    assert.deepEqual(
      readdirSync(inRoot(pi, 'opt/fleetkit')).sort(),
      ['fleetkit-agent.mjs', 'node', 'setup.sh'],
      'no partial folders left',
    );
    assert.ok(wants(pi, 'fleetkit-agent.service'), 'the agent is enabled');
    assert.equal(wants(pi, 'fleetkit-setup.service'), false, 'the download fallback is not');
    assert.equal(
      readFileSync(inRoot(pi, 'etc/systemd/system/fleetkit-agent.service'), 'utf8'),
      readFileSync(path.join(dir, 'fleetkit/fleetkit-agent.service'), 'utf8'),
    );
    assert.match(
      readFileSync(inRoot(pi, 'etc/fleetkit/agent.env'), 'utf8'),
      /^FLEET_ETCD=http:\/\/10\.9\.8\.7:2379$/m,
    );

    // Run again (cloud-init after firstrun, or by hand): same result, the build replaced in one move.
    const again = runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh --start');
    assert.equal(again.code, 0, again.output);
    assert.match(
      again.output,
      /systemd is not running here \(a chroot\?\): fleetkit-agent\.service starts at the next boot/,
    );
    assert.equal(execFileSync(node, ['--version']).toString().trim(), `v${x64.version}`);
  });

  test('install.sh: a damaged build, or one that does not run here, leaves it to fleetkit-setup.service', () => {
    const damaged = cardCopy('install-damaged');
    const tgz = path.join(damaged, `fleetkit/node-v${arm64.version}-linux-arm64.tgz`);
    const bytes = readFileSync(tgz);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256;
    writeFileSync(tgz, bytes);
    const pi = makePi('install-damaged');
    const run = runOnPi(pi, damaged, 'sh /boot/firmware/fleetkit/install.sh');
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /does not match its checksum \(a damaged card\?\)/);
    assert.equal(existsSync(inRoot(pi, 'opt/fleetkit/node')), false);
    assert.ok(wants(pi, 'fleetkit-setup.service'));
    assert.equal(wants(pi, 'fleetkit-agent.service'), false);

    // A build whose node is not a program for this CPU (as an arm64 build on a 32-bit system would be).
    const foreign = cardCopy('install-foreign');
    const pkg = path.join(work, 'install-foreign', 'package');
    mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    writeFileSync(path.join(pkg, 'bin/node'), Buffer.from('\x7fELF not for this machine'));
    chmodSync(path.join(pkg, 'bin/node'), 0o755);
    writeFileSync(path.join(pkg, 'LICENSE'), 'MIT\n');
    const fake = execFileSync('tar', ['-czf', '-', '-C', path.dirname(pkg), 'package']);
    swapBuild(foreign, fake, 'node-v26.0.0-linux-arm64.tgz');
    const pi2 = makePi('install-foreign');
    const run2 = runOnPi(pi2, foreign, 'sh /boot/firmware/fleetkit/install.sh');
    assert.equal(run2.code, 0, run2.output);
    assert.match(run2.output, /does not run on this Pi/);
    assert.equal(existsSync(inRoot(pi2, 'opt/fleetkit/node')), false, 'no half-installed node');
    assert.equal(existsSync(inRoot(pi2, 'opt/fleetkit/node.fleetkit-new')), false);
    assert.ok(wants(pi2, 'fleetkit-setup.service'));
  });

  test('firstrun.sh, Raspberry Pi OS branches: userconf names the user, raspi-config the country', (t) => {
    const dir = cardCopy('firstrun-rpi');
    swapBuild(dir, readFileSync(x64.file), `node-v${x64.version}-linux-x64.tgz`);
    const pi = makePi('firstrun-rpi');
    mkdirSync(inRoot(pi, 'etc/NetworkManager'), { recursive: true });
    // The stand-ins: userconf renames uid 1000 on a Pi; here it creates the user, and both log.
    const run = runOnPi(pi, dir, 'sh /boot/firmware/firstrun.sh', {
      'usr/lib/userconf-pi/userconf':
        '#!/bin/sh\nprintf "userconf %s [%s]\\n" "$1" "$2" >> /var/log/stand-ins.log\nid "$1" >/dev/null 2>&1 || useradd -m -s /bin/bash "$1"\n',
      'usr/bin/raspi-config': '#!/bin/sh\nprintf "raspi-config %s\\n" "$*" >> /var/log/stand-ins.log\n',
    });
    t.diagnostic(`firstrun.sh in ${run.ms} ms`);
    assert.equal(run.code, 0, run.output);
    const standIns = readFileSync(inRoot(pi, 'var/log/stand-ins.log'), 'utf8');
    assert.match(standIns, /^userconf fleet \[\]$/m, 'userconf with the user and no password');
    assert.match(standIns, /^raspi-config nonint do_wifi_country GB$/m);
    assert.equal(readFileSync(inRoot(pi, 'etc/hostname'), 'utf8'), 'pi-stage\n');
    assert.match(readFileSync(inRoot(pi, 'etc/hosts'), 'utf8'), /^127\.0\.1\.1\tpi-stage$/m);
    assert.match(readFileSync(inRoot(pi, 'etc/passwd'), 'utf8'), /^fleet:/m);
    assert.match(readFileSync(inRoot(pi, 'etc/shadow'), 'utf8'), /^fleet:\*:/m, 'no password');
    assert.match(
      readFileSync(inRoot(pi, 'home/fleet/.ssh/authorized_keys'), 'utf8'),
      /^ssh-ed25519 \S+ test$/m,
    );
    const wifi = readFileSync(
      inRoot(pi, 'etc/NetworkManager/system-connections/fleetkit-wifi.nmconnection'),
      'utf8',
    );
    assert.match(wifi, /^ssid=venue$/m);
    assert.match(wifi, /^psk=[0-9a-f]{64}$/m, 'the PSK, not the passphrase');
    assert.ok(wants(pi, 'fleetkit-agent.service'), 'install.sh ran: the agent is enabled');
    assert.ok(lstatSync(inRoot(pi, 'opt/fleetkit/node/bin/node')).isFile());
    // It took itself off the card and out of cmdline.txt.
    assert.equal(existsSync(path.join(dir, 'firstrun.sh')), false);
    assert.equal(
      readFileSync(path.join(dir, 'cmdline.txt'), 'utf8'),
      `${CMDLINE.trim()} cfg80211.ieee80211_regdom=GB\n`,
    );
    assert.match(readFileSync(inRoot(pi, 'var/log/fleetkit-firstrun.log'), 'utf8'), /installed Node\.js v/);
  });

  test('firstrun.sh on plain Debian: no userconf, so useradd; wpa_supplicant without NetworkManager', () => {
    const dir = cardCopy('firstrun-debian');
    const pi = makePi('firstrun-debian');
    rmSync(inRoot(pi, 'etc/NetworkManager'), { recursive: true, force: true });
    const run = runOnPi(pi, dir, 'sh /boot/firmware/firstrun.sh');
    assert.equal(run.code, 0, run.output);
    assert.match(
      readFileSync(inRoot(pi, 'etc/passwd'), 'utf8'),
      /^fleet:x:\d+:\d+::\/home\/fleet:\/bin\/bash$/m,
    );
    assert.match(
      readFileSync(inRoot(pi, 'etc/sudoers.d/020_fleetkit-nopasswd'), 'utf8'),
      /^fleet ALL=\(ALL\) NOPASSWD: ALL$/m,
    );
    const wpa = readFileSync(inRoot(pi, 'etc/wpa_supplicant/wpa_supplicant.conf'), 'utf8');
    assert.match(wpa, /^country=GB$/m);
    assert.match(wpa, new RegExp(`^ssid=${Buffer.from('venue').toString('hex')}$`, 'm'));
    // The arm64 build does not run on this x86-64 machine (unless binfmt_misc runs it under qemu): either
    // way install.sh made a choice, and it is written in the log.
    const log = readFileSync(inRoot(pi, 'var/log/fleetkit-firstrun.log'), 'utf8');
    assert.match(log, /installed Node\.js v|does not run on this Pi/);
    assert.equal(existsSync(path.join(dir, 'firstrun.sh')), false);
    assert.equal(readlinkSync(path.join(pi.root, 'bin')), 'usr/bin');
  });
});
