// The card's first-boot scripts run for real, as root, in a stand-in for a Pi: a root folder in a mount
// namespace of its own (unshare), with this machine's /usr under an overlay (writes land in a temp
// folder), a copy of its /etc, the flashed card bound at /boot/firmware, and chroot. Nothing outside the
// temp folder changes. This is not Raspberry Pi OS: its Pi-only tools are stand-ins (userconf,
// raspi-config, which log their arguments), and so is the Node.js build where a branch needs one that runs
// here (the x64 build of the same version, from the kit's cache). The Debian arm64 chroot under qemu
// (test/field/) runs them on a real Debian root.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
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
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agentAccount, LED_RULES_FILE, ledRules } from '../../device/unit.ts';
import { loadCredentials } from '../../lib/cli/credentials-settings.ts';
import type { SettingIssue } from '../../lib/cli/settings.ts';
import { main } from '../../provision/flash/main.ts';
import { ensureTools, SCRIPT_TEST_TOOLS } from '../../provision/flash/tools.ts';
import { type NodeBuild, nodeBuild } from '../../provision/node/index.ts';
import { makeSecureFolder } from '../../provision/stores/secure/index.ts';

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

/** A build in npm's layout whose node is a shell stand-in printing the version: unpacks in milliseconds. */
function standInBuild(version: string): Buffer {
  const dir = mkdtempSync(path.join(work, 'stand-in-'));
  mkdirSync(path.join(dir, 'package/bin'), { recursive: true });
  writeFileSync(path.join(dir, 'package/bin/node'), `#!/bin/sh\necho v${version}\n`);
  chmodSync(path.join(dir, 'package/bin/node'), 0o755);
  writeFileSync(path.join(dir, 'package/LICENSE'), 'MIT\n');
  return execFileSync('tar', ['-czf', '-', '-C', dir, 'package']);
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
async function runOnPi(
  pi: PiRoot,
  cardDir: string,
  command: string,
  usrFiles: Record<string, string> = {},
  options: { hide?: string[]; env?: Record<string, string> } = {},
) {
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
    ...(options.hide ?? []).map((file) => `rm -f ${q(path.join(pi.root, file))}`),
    `exec chroot ${q(pi.root)} /bin/sh -c ${q(command)}`,
  ].join('\n');
  const started = Date.now();
  // Not spawnSync: a test's HTTP server in this process answers while the script runs.
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', setup], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, output, ms: Date.now() - started };
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
    await ensureTools(SCRIPT_TEST_TOOLS, { log });
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
        '--wifi-country',
        'GB',
        '--control-host',
        '10.9.8.7',
      ],
      { FLEET_FLASH_WIFI_PASSPHRASE: 'correct horse' },
      { out: () => {}, err: (line) => errors.push(line) },
    );
    assert.equal(code, 0, errors.join('\n'));
    assert.ok(existsSync(path.join(card, `fleetkit/node-v${arm64.version}-linux-arm64.tgz`)));
  });

  test("install.sh: the card's build, checked and unpacked into /opt/fleetkit/node; the agent enabled", async (t) => {
    const dir = cardCopy('install-ok');
    // The same version for this machine's CPU, so that the unpacked node runs here as it would on a Pi.
    swapBuild(dir, readFileSync(x64.file), `node-v${x64.version}-linux-x64.tgz`);
    const pi = makePi('install-ok');
    const run = await runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh');
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
    // The agent's own system user (no login), and the LED's udev rule for its group, with the unit.
    const account = agentAccount();
    assert.match(
      readFileSync(inRoot(pi, 'etc/passwd'), 'utf8'),
      new RegExp(`^${account}:[^:]*:\\d+:\\d+:fleetkit device agent:/nonexistent:/usr/sbin/nologin$`, 'm'),
    );
    assert.match(readFileSync(inRoot(pi, 'etc/group'), 'utf8'), new RegExp(`^${account}:`, 'm'));
    const rules = inRoot(pi, LED_RULES_FILE.slice(1));
    assert.equal(readFileSync(rules, 'utf8'), ledRules());
    assert.equal(statSync(rules).mode & 0o777, 0o644);
    assert.match(run.output, new RegExp(`the agent runs as ${account}; the LED through ${LED_RULES_FILE}`));

    // Run again (cloud-init after firstrun, or by hand): same result, the build replaced in one move.
    const again = await runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh --start');
    assert.equal(again.code, 0, again.output);
    assert.match(
      again.output,
      /systemd is not running here \(a chroot\?\): fleetkit-agent\.service starts at the next boot/,
    );
    assert.equal(execFileSync(node, ['--version']).toString().trim(), `v${x64.version}`);
  });

  test("install.sh: the stores' credentials moved off the card into /etc/fleetkit/credentials (0700, files 0600, the agent's user)", async (t) => {
    const dir = cardCopy('install-credentials');
    const secure = await makeSecureFolder(path.join(work, 'install-credentials', 'secure'));
    const out: string[] = [];
    const flashed = await main(
      [
        '--boot',
        dir,
        '--hostname',
        'pi-stage',
        '--user',
        'fleet',
        '--ssh-key',
        path.join(work, 'key.pub'),
        '--control-host',
        '10.9.8.7',
        '--credentials',
        secure.roles.device.env,
      ],
      {},
      { out: (line) => out.push(line), err: (line) => out.push(line) },
    );
    assert.equal(flashed, 0, out.join('\n'));
    swapBuild(dir, readFileSync(x64.file), `node-v${x64.version}-linux-x64.tgz`);
    const pi = makePi('install-credentials');
    const run = await runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh');
    t.diagnostic(`install.sh with credentials in ${run.ms} ms`);
    assert.equal(run.code, 0, run.output);
    const user = agentAccount();
    assert.match(
      run.output,
      new RegExp(
        `installed the stores' credentials in /etc/fleetkit/credentials \\(folder 0700, files 0600, owner ${user}\\)`,
      ),
    );
    for (const secret of [
      secure.secrets.etcd.device,
      secure.secrets.consul.device,
      secure.secrets.zookeeper.device,
    ])
      assert.ok(!run.output.includes(secret), "no secret in install.sh's output");
    const credentials = inRoot(pi, 'etc/fleetkit/credentials');
    // The user's uid in the Pi's own /etc/passwd (its /usr is mounted only while a script runs).
    const passwd = readFileSync(inRoot(pi, 'etc/passwd'), 'utf8');
    const uid = Number(new RegExp(`^${user}:[^:]*:(\\d+):`, 'm').exec(passwd)?.[1]);
    const folder = statSync(credentials);
    assert.equal(folder.mode & 0o777, 0o700);
    assert.equal(folder.uid, uid);
    assert.deepEqual(readdirSync(credentials).sort(), [
      'ca.pem',
      'client-key.pem',
      'client.pem',
      'credentials.env',
    ]);
    for (const name of readdirSync(credentials)) {
      const file = statSync(path.join(credentials, name));
      assert.equal(file.mode & 0o777, 0o600, `${name} is 0600`);
      assert.equal(file.uid, uid, `${name} belongs to ${user}`);
    }
    assert.ok(
      readFileSync(path.join(credentials, 'client-key.pem')).equals(readFileSync(secure.roles.device.key)),
    );
    assert.equal(existsSync(path.join(dir, 'fleetkit/credentials')), false, 'gone from the boot partition');
    assert.match(
      readFileSync(inRoot(pi, 'etc/fleetkit/agent.env'), 'utf8'),
      /^FLEET_CREDENTIALS=\/etc\/fleetkit\/credentials\/credentials\.env$/m,
    );
    // What the agent reads on the Pi: the card's credentials.env with its paths against its own folder.
    const issues: SettingIssue[] = [];
    const loaded = loadCredentials({ credentials: path.join(credentials, 'credentials.env') }, {}, issues);
    assert.deepEqual(issues, []);
    assert.equal(loaded.credentials.etcd?.password, secure.secrets.etcd.device);
    assert.match(loaded.credentials.etcd?.key ?? '', /PRIVATE KEY/);

    // Run again (cloud-init after firstrun): the card has none now, the Pi keeps its own.
    const again = await runOnPi(pi, dir, 'sh /boot/firmware/fleetkit/install.sh');
    assert.equal(again.code, 0, again.output);
    assert.deepEqual(readdirSync(credentials).sort(), [
      'ca.pem',
      'client-key.pem',
      'client.pem',
      'credentials.env',
    ]);
  });

  test('firstrun.sh: credentials never stay on the card, even when install.sh fails', async () => {
    const dir = cardCopy('firstrun-credentials');
    mkdirSync(path.join(dir, 'fleetkit/credentials'));
    writeFileSync(path.join(dir, 'fleetkit/credentials/credentials.env'), 'FLEET_CONSUL_TOKEN=t\n');
    writeFileSync(path.join(dir, 'fleetkit/install.sh'), '#!/bin/sh\necho broken >&2\nexit 1\n');
    const pi = makePi('firstrun-credentials');
    const run = await runOnPi(pi, dir, 'sh /boot/firmware/firstrun.sh');
    assert.equal(run.code, 0, run.output);
    assert.match(
      readFileSync(inRoot(pi, 'var/log/fleetkit-firstrun.log'), 'utf8'),
      /fleetkit\/install\.sh failed/,
    );
    assert.equal(existsSync(path.join(dir, 'fleetkit/credentials')), false);
  });

  test("install.sh: a node that cannot find libatomic.so.1 gets the card's copy in /usr/local/lib, and runs with it", async (t) => {
    // The x64 build links libatomic.so.1 as the arm builds do: with this machine's copy hidden in the
    // stand-in's /usr (as a minimal Debian lacks it), its loader fails as a Pi's would. The card carries
    // this machine's libatomic.so.1 here (the x86-64 one, so that it loads), with its .sha256.
    const libDir = '/usr/lib/x86_64-linux-gnu';
    const hidden = readdirSync(libDir)
      .filter((name) => name.startsWith('libatomic.so.1'))
      .map((name) => `${libDir.slice(1)}/${name}`);
    assert.ok(hidden.length > 0, `libatomic.so.1 in ${libDir} (Debian's libatomic1)`);
    const lib = readFileSync(`${libDir}/libatomic.so.1`);
    const putLibatomic = (dir: string, data: Buffer, sum = sha256(data)) => {
      writeFileSync(path.join(dir, 'fleetkit/libatomic.so.1'), data);
      writeFileSync(path.join(dir, 'fleetkit/libatomic.so.1.sha256'), `${sum}  libatomic.so.1\n`);
    };
    const tgz = readFileSync(x64.file);
    const x64Name = `node-v${x64.version}-linux-x64.tgz`;
    const dir = cardCopy('install-libatomic');
    assert.ok(existsSync(path.join(dir, 'fleetkit/libatomic.so.1')), 'flash put one on the card');
    swapBuild(dir, tgz, x64Name);
    putLibatomic(dir, lib);
    const pi = makePi('install-libatomic');
    // First the build's node as it is, to show the library is missing; then install.sh.
    const probe = `mkdir -p /tmp/probe && tar -xzf /boot/firmware/fleetkit/${x64Name} -C /tmp/probe package/bin/node && { /tmp/probe/package/bin/node --version || echo "probe: node failed"; }`;
    const run = await runOnPi(
      pi,
      dir,
      `${probe}; sh /boot/firmware/fleetkit/install.sh`,
      {},
      { hide: hidden },
    );
    t.diagnostic(`the probe and install.sh in ${run.ms} ms`);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /libatomic\.so\.1: cannot open shared object file[\s\S]*probe: node failed/);
    assert.match(
      run.output,
      /this system has no libatomic\.so\.1, which Node\.js needs: installed the card's copy as \/usr\/local\/lib\/libatomic\.so\.1 \(ldconfig run\)/,
    );
    assert.match(run.output, new RegExp(`installed Node\\.js v${x64.version} from the card`));
    assert.ok(wants(pi, 'fleetkit-agent.service'), 'the agent is enabled');
    assert.equal(wants(pi, 'fleetkit-setup.service'), false, 'no download needed');
    // /usr/local in the stand-in is the overlay's upper folder: the card's bytes, nothing else there.
    assert.equal(sha256(readFileSync(path.join(pi.upper, 'local/lib/libatomic.so.1'))), sha256(lib));
    // And the kit's node loads it from there (its memory map names the file), ldconfig's cache saying so.
    const used = await runOnPi(
      pi,
      dir,
      `/opt/fleetkit/node/bin/node -p "require('fs').readFileSync('/proc/self/maps','utf8').match(/\\S*libatomic\\S*/)[0]"; ldconfig -p | grep libatomic`,
      {},
      { hide: hidden },
    );
    assert.equal(used.code, 0, used.output);
    assert.match(used.output, /^\/usr\/local\/lib\/libatomic\.so\.1$/m);
    assert.match(used.output, /libatomic\.so\.1 \(libc6,x86-64\) => \/usr\/local\/lib\/libatomic\.so\.1/);
    assert.doesNotMatch(used.output, /x86_64-linux-gnu\/libatomic/, 'the hidden copy stays hidden');

    // A copy that does not match its checksum is not installed: the download fallback instead.
    const damaged = cardCopy('install-libatomic-damaged');
    swapBuild(damaged, tgz, x64Name);
    putLibatomic(damaged, lib, sha256(Buffer.from('another library')));
    const pi2 = makePi('install-libatomic-damaged');
    const refused = await runOnPi(
      pi2,
      damaged,
      'sh /boot/firmware/fleetkit/install.sh',
      {},
      { hide: hidden },
    );
    assert.equal(refused.code, 0, refused.output);
    assert.match(
      refused.output,
      /libatomic\.so\.1 on the card does not match its checksum \(a damaged card\?\): not installed/,
    );
    assert.match(refused.output, /does not run on this Pi .*It said: .*libatomic\.so\.1/);
    assert.equal(existsSync(path.join(pi2.upper, 'local/lib/libatomic.so.1')), false);
    assert.equal(existsSync(inRoot(pi2, 'opt/fleetkit/node')), false);
    assert.ok(wants(pi2, 'fleetkit-setup.service'));
  });

  test('install.sh: a damaged build, or one that does not run here, leaves it to fleetkit-setup.service', async () => {
    const damaged = cardCopy('install-damaged');
    const tgz = path.join(damaged, `fleetkit/node-v${arm64.version}-linux-arm64.tgz`);
    const bytes = readFileSync(tgz);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256;
    writeFileSync(tgz, bytes);
    const pi = makePi('install-damaged');
    const run = await runOnPi(pi, damaged, 'sh /boot/firmware/fleetkit/install.sh');
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
    const run2 = await runOnPi(pi2, foreign, 'sh /boot/firmware/fleetkit/install.sh');
    assert.equal(run2.code, 0, run2.output);
    assert.match(run2.output, /does not run on this Pi/);
    assert.equal(existsSync(inRoot(pi2, 'opt/fleetkit/node')), false, 'no half-installed node');
    assert.equal(existsSync(inRoot(pi2, 'opt/fleetkit/node.fleetkit-new')), false);
    assert.ok(wants(pi2, 'fleetkit-setup.service'));
    // This system has libatomic.so.1 (ldconfig -p lists it) and the error does not name it: left alone.
    assert.doesNotMatch(run2.output, /libatomic/);
    assert.equal(existsSync(path.join(pi2.upper, 'local/lib/libatomic.so.1')), false);
  });

  test('firstrun.sh, Raspberry Pi OS branches: userconf names the user, raspi-config the country', async (t) => {
    const dir = cardCopy('firstrun-rpi');
    swapBuild(dir, standInBuild(arm64.version), `node-v${arm64.version}-linux-arm64.tgz`);
    const pi = makePi('firstrun-rpi');
    mkdirSync(inRoot(pi, 'etc/NetworkManager'), { recursive: true });
    // The stand-ins: userconf renames uid 1000 on a Pi; here it creates the user, and both log.
    const run = await runOnPi(pi, dir, 'sh /boot/firmware/firstrun.sh', {
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

  test('firstrun.sh on plain Debian: no userconf, so useradd; wpa_supplicant without NetworkManager', async () => {
    const dir = cardCopy('firstrun-debian');
    swapBuild(dir, standInBuild(arm64.version), `node-v${arm64.version}-linux-arm64.tgz`);
    const pi = makePi('firstrun-debian');
    rmSync(inRoot(pi, 'etc/NetworkManager'), { recursive: true, force: true });
    const run = await runOnPi(pi, dir, 'sh /boot/firmware/firstrun.sh');
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
    const log = readFileSync(inRoot(pi, 'var/log/fleetkit-firstrun.log'), 'utf8');
    assert.match(
      log,
      new RegExp(`installed Node\\.js v${arm64.version.replaceAll('.', '\\.')} from the card`),
    );
    assert.ok(wants(pi, 'fleetkit-agent.service'));
    assert.equal(existsSync(path.join(dir, 'firstrun.sh')), false);
    assert.equal(readlinkSync(path.join(pi.root, 'bin')), 'usr/bin');
  });

  test("setup.sh: the Pi's own node 20+ is linked; else nodejs.org's build, checked against SHASUMS256.txt", async (t) => {
    // A stand-in for nodejs.org/dist (FLEETKIT_NODE_MIRROR): the official layout, a small stand-in node.
    const version = /^NODE_DIST=v(\S+)$/m.exec(
      readFileSync(path.join(card, 'fleetkit/setup.sh'), 'utf8'),
    )![1]!;
    const dist = path.join(work, 'mirror', `v${version}`);
    const folder = `node-v${version}-linux-x64`;
    mkdirSync(path.join(dist, folder, 'bin'), { recursive: true });
    writeFileSync(path.join(dist, folder, 'bin/node'), `#!/bin/sh\necho v${version}\n`);
    chmodSync(path.join(dist, folder, 'bin/node'), 0o755);
    const tarball = execFileSync('tar', ['-czf', '-', '-C', dist, folder]);
    const file = `${folder}.tar.gz`;
    writeFileSync(path.join(dist, file), tarball);
    const shasums = (data: Buffer) =>
      `${sha256(Buffer.from('other'))}  node-v${version}-linux-arm64.tar.gz\n${sha256(data)}  ${file}\n`;
    writeFileSync(path.join(dist, 'SHASUMS256.txt'), shasums(tarball));
    const asked: string[] = [];
    const server = createServer((request, response) => {
      asked.push(request.url ?? '');
      try {
        response.end(
          readFileSync(
            path.join(work, 'mirror', decodeURIComponent(request.url ?? '').replace(/^\/dist\//, '')),
          ),
        );
      } catch {
        response.statusCode = 404;
        response.end();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const env = { FLEETKIT_NODE_MIRROR: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dist` };
    const systemctl = '#!/bin/sh\nprintf "systemctl %s\\n" "$*" >> /var/log/stand-ins.log\n';
    const noNode = ['usr/bin/node', 'usr/local/bin/node'];
    /** setup.sh run from a copy of the card on a new stand-in Pi (`card`: that copy's name). */
    const runSetup = async (pi: string, card: string, hide?: string[]) => {
      const root = makePi(pi);
      const result = await runOnPi(
        root,
        cardCopy(card),
        'sh /boot/firmware/fleetkit/setup.sh',
        { 'usr/bin/systemctl': systemctl },
        { env, ...(hide ? { hide } : {}) },
      );
      return { root, result };
    };

    // This machine's node (20+) is on the PATH: linked, nothing downloaded.
    // setup.sh as install.sh would have put it in /opt/fleetkit: run from the card here.
    const { root: linked, result: link2 } = await runSetup('setup-link', 'setup-link-2');
    assert.equal(link2.code, 0, link2.output);
    assert.match(link2.output, /linked this Pi's own node \(\/usr\/bin\/node, v\d+/);
    assert.ok(lstatSync(inRoot(linked, 'opt/fleetkit/node/bin/node')).isSymbolicLink());
    assert.deepEqual(asked, [], 'nothing downloaded');
    const calls = readFileSync(inRoot(linked, 'var/log/stand-ins.log'), 'utf8');
    assert.match(calls, /^systemctl enable --now fleetkit-agent\.service$/m);
    assert.match(calls, /^systemctl disable fleetkit-setup\.service$/m, 'it turns itself off');

    // No node at all: the build from the mirror, its checksum checked, unpacked in one move.
    const { root: fresh, result: download } = await runSetup('setup-download', 'setup-download', noNode);
    assert.equal(download.code, 0, download.output);
    assert.match(
      download.output,
      new RegExp(`installed ${file.replaceAll('.', '\\.')} in /opt/fleetkit/node`),
    );
    assert.deepEqual(asked, [`/dist/v${version}/SHASUMS256.txt`, `/dist/v${version}/${file}`]);
    assert.equal(execFileSync(inRoot(fresh, 'opt/fleetkit/node/bin/node')).toString(), `v${version}\n`);
    assert.match(
      download.output,
      new RegExp(`the agent runs on Node\\.js v${version.replaceAll('.', '\\.')}`),
    );

    // A download that does not match SHASUMS256.txt is not installed, and the unit tries again later.
    writeFileSync(path.join(dist, 'SHASUMS256.txt'), shasums(Buffer.from('something else')));
    const { root: tampered, result: refused } = await runSetup('setup-tampered', 'setup-tampered', noNode);
    assert.equal(refused.code, 1, refused.output);
    assert.match(
      refused.output,
      /does not match nodejs\.org's SHASUMS256\.txt: not installed, trying again in a minute/,
    );
    assert.equal(existsSync(inRoot(tampered, 'opt/fleetkit/node')), false);
    assert.equal(existsSync(inRoot(tampered, 'var/log/stand-ins.log')), false, 'the agent is not started');
  });
});
