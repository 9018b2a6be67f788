// First boot of a card that `fleetkit flash` prepared, with no internet: a minimal Debian arm64 root
// filesystem (debootstrap, cached in .cache/rootfs; test/support/rootfs.ts) gets the card's boot partition
// in /boot/firmware, then firstrun.sh (and, in a second copy, what cloud-init's user-data runcmd does) runs
// chrooted under qemu-aarch64 in a network namespace whose only link is to the control host, where the
// real stores listen on their default ports. Then the unit's own ExecStart line, chrooted and emulated the
// same way, starts an agent that registers in all three stores.
// Measured here (rootfs cached; debootstrap the first time took 489 s, 85 s of it the first stage): copying
// the root filesystem and the card 1-2.4 s, firstrun.sh 11.0 s, user-data's runcmd 7.7 s, the agent
// registered in all three stores 9.1 s after ExecStart and was gone 0.3 s after SIGTERM; 49 s in all.
// The firstrun copy has no libatomic1 (its libatomic.so.1* removed, ldconfig run), as a minimal Debian:
// install.sh installs the card's copy in /usr/local/lib and the agent's node maps it (44.7 s in all here).
// This is Debian, not Raspberry Pi OS: userconf and raspi-config are covered by flash's script-level tests.
// Needs root (debootstrap, chroot, network namespaces), as `npm run test:field` has in CI.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { installPaths } from '../../device/unit.ts';
import { DEFAULT_PORTS, type InstanceWatch, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { main as flashMain } from '../../provision/flash/main.ts';
import { ensureTools, findProgram, TEST_TOOLS } from '../../provision/flash/tools.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { eventually } from '../support/eventually.ts';
import { ensureQemu } from '../support/qemu.ts';
import { copyRootfs, mountSystemDirs, removeLibatomic, removeRootfs } from '../support/rootfs.ts';
import { StoreWatcher } from '../support/store-views.ts';

const run = promisify(execFile);
const work = mkdtempSync(path.join(tmpdir(), 'fleetkit-first-boot-'));
const FAT_OFFSET = 8192 * 512;
const mtoolsEnv = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

// The control host and the Pi on one link of their own: 10.79.N.1 (stores) and 10.79.N.2 (the Pi).
const NET = process.pid % 250;
const NETNS = `fbt${process.pid}`;
const HOST_LINK = `fbth${process.pid % 100000}`;
const PI_LINK = `fbtp${process.pid % 100000}`;
const CONTROL_HOST = `10.79.${NET}.1`;
const PI_ADDRESS = `10.79.${NET}.2`;

const HOSTNAME = 'pi-field-1';
const USER = 'fleet';
const PI_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function ed25519PublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const sshString = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
  return `ssh-ed25519 ${Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]).toString('base64')} field@test`;
}

/** A Raspberry Pi OS-like 64-bit card image: DOS label, a 512 MiB FAT32 at 4 MiB (as Raspberry Pi OS has it) with cmdline.txt, config.txt and kernel8.img. */
async function makeCard(): Promise<string> {
  const image = path.join(work, 'card.img');
  const sfdisk = (await findProgram('sfdisk'))!;
  const mkfs = (await findProgram('mkfs.vfat'))!;
  execFileSync('truncate', ['-s', '600M', image]); // sparse
  execFileSync(sfdisk, ['-q', image], {
    input: 'label: dos\nstart=8192, size=1048576, type=c\nstart=1056768, type=83\n',
  });
  execFileSync(mkfs, ['-F', '32', '-n', 'BOOTFS', '--offset', '8192', image, '524288'], { stdio: 'ignore' });
  const staging = mkdtempSync(path.join(work, 'boot-'));
  writeFileSync(
    path.join(staging, 'cmdline.txt'),
    'console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n',
  );
  writeFileSync(path.join(staging, 'config.txt'), '# test config.txt\narm_64bit=1\n');
  writeFileSync(path.join(staging, 'kernel8.img'), Buffer.alloc(4096, 1));
  execFileSync(
    'mcopy',
    [
      '-i',
      `${image}@@${FAT_OFFSET}`,
      ...['cmdline.txt', 'config.txt', 'kernel8.img'].map((f) => path.join(staging, f)),
      '::/',
    ],
    { env: mtoolsEnv },
  );
  return image;
}

/** The card's boot partition, every file, copied into `dir` (the root filesystem's /boot/firmware). */
function copyBootPartition(image: string, dir: string): void {
  execFileSync('mcopy', ['-s', '-n', '-i', `${image}@@${FAT_OFFSET}`, '::/*', dir], { env: mtoolsEnv });
}

/** Runs `argv` chrooted in `rootfs`, in the Pi's network namespace (its only link: the control host). */
function onThePi(rootfs: string, argv: string[], env: string[] = []) {
  return [
    'ip',
    [
      'netns',
      'exec',
      NETNS,
      'chroot',
      rootfs,
      '/usr/bin/env',
      '-i',
      PI_PATH,
      'LANG=C.UTF-8',
      ...env,
      ...argv,
    ],
  ] as const;
}

async function runOnThePi(
  rootfs: string,
  argv: string[],
): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  const [command, args] = onThePi(rootfs, argv);
  const { stdout, stderr } = await run(command, [...args], { timeout: 600_000, maxBuffer: 1 << 24 });
  return { stdout, stderr, ms: Math.round(performance.now() - started) };
}

/** systemd's EnvironmentFile= format, as the agent's unit reads /etc/fleetkit/agent.env. */
function environmentFile(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && /^[A-Za-z_][A-Za-z0-9_]*=/.test(line));
}

const inRoot = (rootfs: string, file: string) => path.join(rootfs, file.replace(/^\//, ''));

describe('first boot of a flashed card, offline, chrooted under qemu-aarch64', { timeout: 1_800_000 }, () => {
  const stores = {} as Record<StoreKind, StoreProcess>;
  const watcher = new StoreWatcher(() => stores);
  let views: Record<StoreKind, InstanceWatch>;
  let image: string;
  let sshKey: string;
  let flashOut = '';
  const rootfses: string[] = [];
  let agent: ChildProcess | undefined;

  before(async () => {
    assert.equal(
      process.getuid?.(),
      0,
      'the first-boot test needs root (debootstrap, chroot, network namespaces)',
    );
    await ensureQemu();
    await ensureTools(TEST_TOOLS);
    // The link: a namespace for the Pi, a veth pair, no default route (no internet).
    await run('ip', ['netns', 'add', NETNS]);
    await run('ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', PI_LINK]);
    await run('ip', ['link', 'set', PI_LINK, 'netns', NETNS]);
    await run('ip', ['addr', 'add', `${CONTROL_HOST}/30`, 'dev', HOST_LINK]);
    await run('ip', ['link', 'set', HOST_LINK, 'up']);
    await run('ip', ['netns', 'exec', NETNS, 'ip', 'addr', 'add', `${PI_ADDRESS}/30`, 'dev', PI_LINK]);
    await run('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', PI_LINK, 'up']);
    await run('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up']);
    // The stores on the control host's address, on the default ports the card's agent.env names.
    const started = await Promise.all([
      startStore('etcd', { host: CONTROL_HOST, ports: { client: DEFAULT_PORTS.etcd } }),
      startStore('zookeeper', { host: CONTROL_HOST, ports: { client: DEFAULT_PORTS.zookeeper } }),
      startStore('consul', { host: CONTROL_HOST, ports: { http: DEFAULT_PORTS.consul } }),
    ]);
    for (const store of started) stores[store.kind] = store;
    views = watcher.watch('fleet').views;
    sshKey = ed25519PublicKey();
    writeFileSync(path.join(work, 'key.pub'), `${sshKey}\n`);
    image = await makeCard();
    const out: string[] = [];
    const err: string[] = [];
    const code = await flashMain(
      [
        '--image',
        image,
        '--hostname',
        HOSTNAME,
        '--user',
        USER,
        '--ssh-key',
        path.join(work, 'key.pub'),
        '--control-host',
        CONTROL_HOST,
      ],
      {},
      { out: (line) => out.push(line), err: (line) => err.push(line) },
    );
    flashOut = out.join('\n');
    assert.equal(code, 0, `fleetkit flash: ${err.join('\n')}`);
  });

  after(async () => {
    agent?.kill('SIGKILL');
    await watcher.close();
    await Promise.all(Object.values(stores).map((s) => s.stop({ removeData: true })));
    await run('ip', ['netns', 'del', NETNS]).catch(() => undefined);
    await run('ip', ['link', 'del', HOST_LINK]).catch(() => undefined);
    // removeRootfs throws while /dev or /proc is still mounted in a copy: then `work` stays, for a look.
    for (const rootfs of rootfses) await removeRootfs(rootfs);
    execFileSync('rm', ['-rf', work]);
  });

  async function freshPi(name: string): Promise<string> {
    const rootfs = path.join(work, name);
    execFileSync('mkdir', ['-p', rootfs]);
    rootfses.push(rootfs);
    const started = performance.now();
    await copyRootfs(rootfs);
    await mountSystemDirs(rootfs);
    execFileSync('mkdir', ['-p', inRoot(rootfs, '/boot/firmware')]);
    copyBootPartition(image, inRoot(rootfs, '/boot/firmware'));
    process.stderr.write(
      `${name}: root filesystem copied, card in /boot/firmware in ${Math.round(performance.now() - started)} ms\n`,
    );
    return rootfs;
  }

  /** What both first-boot styles must leave: the agent, its settings, its unit enabled, Node where the unit runs it. */
  function assertAgentInstalled(rootfs: string) {
    const on = installPaths();
    const unit = readFileSync(inRoot(rootfs, `${on.unitDir}/${on.unitName}`), 'utf8');
    assert.equal(unit, readFileSync(new URL('../../device/fleetkit-agent.service', import.meta.url), 'utf8'));
    const execStart = /^ExecStart=(\S+)/m.exec(unit)?.[1];
    assert.equal(execStart, on.node, 'the unit runs the kit’s own node');
    const node = inRoot(rootfs, on.node);
    assert.ok(statSync(node).mode & 0o111, `${on.node} is executable`);
    assert.ok(statSync(inRoot(rootfs, on.agent)).size > 100_000, `${on.agent} is the bundle`);
    const env = readFileSync(inRoot(rootfs, on.env), 'utf8');
    assert.match(
      env,
      new RegExp(`^FLEET_ETCD=http://${CONTROL_HOST.replaceAll('.', '\\.')}:${DEFAULT_PORTS.etcd}$`, 'm'),
    );
    const wants = inRoot(rootfs, `/etc/systemd/system/multi-user.target.wants/${on.unitName}`);
    assert.ok(lstatSync(wants).isSymbolicLink(), 'the agent unit is enabled (multi-user.target.wants)');
    assert.equal(readlinkSync(wants), `${on.unitDir}/${on.unitName}`);
    assert.ok(
      !existsSync(inRoot(rootfs, '/etc/systemd/system/multi-user.target.wants/fleetkit-setup.service')),
      'the download fallback stays off: the card brought Node',
    );
    return { unit, env };
  }

  test('flash put the arm64 Node build and its checksum on the card', () => {
    assert.match(flashOut, /node-v\d+\.\d+\.\d+-linux-arm64\.tgz/);
    const listing = execFileSync('mdir', ['-/', '-b', '-i', `${image}@@${FAT_OFFSET}`, '::/fleetkit'], {
      env: mtoolsEnv,
    }).toString();
    assert.match(listing, /node-v\d+\.\d+\.\d+-linux-arm64\.tgz\.sha256/);
    // libatomic.so.1, which the build links, for aarch64 (ELF header: 64-bit, e_machine 183).
    assert.match(listing, /^::\/fleetkit\/libatomic\.so\.1\.sha256$/m);
    const lib = execFileSync('mtype', ['-i', `${image}@@${FAT_OFFSET}`, '::/fleetkit/libatomic.so.1'], {
      env: mtoolsEnv,
    });
    assert.equal(lib.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(lib[4], 2, 'EI_CLASS: 64-bit');
    assert.equal(lib.readUInt16LE(18), 183, 'e_machine: aarch64');
  });

  test('firstrun.sh, with no network but the stores: user, hostname, key, the agent and Node where the unit expects them; it removes itself', async (t) => {
    // Offline: the Pi's namespace has one route, to the control host's link, and no default route.
    const routes = (await run('ip', ['netns', 'exec', NETNS, 'ip', 'route'])).stdout;
    assert.doesNotMatch(routes, /^default/m, `no default route on the Pi: ${routes}`);
    assert.match(routes, new RegExp(`dev ${PI_LINK}`));
    const rootfs = await freshPi('pi-firstrun');
    // This Pi's image lacks libatomic1 (a minimal Debian): the card's copy must make its Node run.
    const removed = await removeLibatomic(rootfs);
    t.diagnostic(`removed ${removed.join(', ')} from the copy, ldconfig run`);
    assert.ok(removed.includes('libatomic.so.1'), 'the cached root filesystem has libatomic1');
    assert.doesNotMatch((await runOnThePi(rootfs, ['/sbin/ldconfig', '-p'])).stdout, /libatomic/);
    const { stdout, ms } = await runOnThePi(rootfs, ['/bin/sh', '/boot/firmware/firstrun.sh']);
    t.diagnostic(`firstrun.sh ran in ${ms} ms (chrooted, emulated)`);
    const log = readFileSync(inRoot(rootfs, '/var/log/fleetkit-firstrun.log'), 'utf8');
    t.diagnostic(`its log:\n${log}`);
    assert.match(stdout, /done: rebooting/);
    assert.equal(readFileSync(inRoot(rootfs, '/etc/hostname'), 'utf8'), `${HOSTNAME}\n`);
    assert.match(
      readFileSync(inRoot(rootfs, '/etc/hosts'), 'utf8'),
      new RegExp(`^127\\.0\\.1\\.1\\t${HOSTNAME}$`, 'm'),
    );
    const passwd = readFileSync(inRoot(rootfs, '/etc/passwd'), 'utf8');
    const entry = passwd.split('\n').find((line) => line.startsWith(`${USER}:`));
    assert.ok(entry, `${USER} in /etc/passwd`);
    const home = entry.split(':')[5]!;
    assert.equal(readFileSync(inRoot(rootfs, `${home}/.ssh/authorized_keys`), 'utf8'), `${sshKey}\n`);
    assert.match(
      readFileSync(inRoot(rootfs, '/etc/shadow'), 'utf8'),
      new RegExp(`^${USER}:\\*:`, 'm'),
      'no password',
    );
    assert.ok(existsSync(inRoot(rootfs, '/etc/sudoers.d/020_fleetkit-nopasswd')));
    assertAgentInstalled(rootfs);
    assert.match(log, /installed Node\.js v\d+\.\d+\.\d+ from the card/);
    assert.match(
      log,
      /this system has no libatomic\.so\.1, which Node\.js needs: installed the card's copy as \/usr\/local\/lib\/libatomic\.so\.1 \(ldconfig run\)/,
    );
    assert.ok(
      readFileSync(inRoot(rootfs, '/usr/local/lib/libatomic.so.1')).equals(
        readFileSync(inRoot(rootfs, '/boot/firmware/fleetkit/libatomic.so.1')),
      ),
      "/usr/local/lib/libatomic.so.1 is the card's copy",
    );
    assert.match(
      (await runOnThePi(rootfs, ['/sbin/ldconfig', '-p'])).stdout,
      /libatomic\.so\.1 \(libc6,AArch64\) => \/usr\/local\/lib\/libatomic\.so\.1/,
    );
    assert.ok(!existsSync(inRoot(rootfs, '/boot/firmware/firstrun.sh')), 'firstrun.sh removed itself');
    assert.doesNotMatch(readFileSync(inRoot(rootfs, '/boot/firmware/cmdline.txt'), 'utf8'), /systemd\.run/);
  });

  test("the unit's ExecStart, chrooted and emulated with the unit's EnvironmentFile: an agent that registers in all three stores, at the Pi's address", async (t) => {
    const rootfs = rootfses[0];
    assert.ok(rootfs, 'the firstrun test made the Pi');
    const on = installPaths();
    const unit = readFileSync(inRoot(rootfs, `${on.unitDir}/${on.unitName}`), 'utf8');
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.trim().split(/\s+/);
    const envFile = /^EnvironmentFile=-?(\S+)$/m.exec(unit)![1]!;
    const env = environmentFile(readFileSync(inRoot(rootfs, envFile), 'utf8'));
    const [command, args] = onThePi(rootfs, execStart, [...env, 'FLEET_DEVICE_ID=pi-field-1']);
    const started = performance.now();
    agent = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    agent.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    agent.stdout?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => agent!.on('exit', (code) => resolve(code)));
    const exitedFirst = exited.then((code) => {
      throw new Error(`the agent exited (${code}) before registering: ${stderr}`);
    });
    exitedFirst.catch(() => undefined);
    // 120 s: three times the 38 s the arm64 agent took to register under load (test/device/arm64-agent.test.ts).
    await Promise.race([
      eventually(
        'pi-field-1 passing in every store',
        () => STORE_KINDS.every((k) => views[k].get('pi-field-1')?.health === 'passing'),
        {
          timeoutMs: 120_000,
          intervalMs: 100,
        },
      ),
      exitedFirst,
    ]);
    t.diagnostic(
      `registered in all three stores ${Math.round(performance.now() - started)} ms after ExecStart`,
    );
    // This Pi had no libatomic1: the agent's node (under qemu: its maps are the emulator's) loaded the card's.
    const maps = readFileSync(`/proc/${agent.pid}/maps`, 'utf8');
    assert.ok(
      maps.includes(inRoot(rootfs, '/usr/local/lib/libatomic.so.1')),
      'the running agent mapped /usr/local/lib/libatomic.so.1',
    );
    for (const kind of STORE_KINDS) {
      const { record } = views[kind].get('pi-field-1')!;
      assert.equal(record.host, PI_ADDRESS, `${kind}: advertised at the Pi's own address`);
      assert.equal(record.port, 8080, `${kind}: the default port`);
    }
    const status = (await (await fetch(`http://${PI_ADDRESS}:8080/status`)).json()) as { id: string };
    assert.equal(status.id, 'pi-field-1');
    const killedAt = performance.now();
    agent.kill('SIGTERM');
    await eventually(
      'pi-field-1 gone everywhere',
      () => STORE_KINDS.every((k) => views[k].get('pi-field-1') === undefined),
      {
        timeoutMs: 10_000,
      },
    );
    t.diagnostic(`gone from all three ${Math.round(performance.now() - killedAt)} ms after SIGTERM`);
    assert.equal(await exited, 143);
    agent = undefined;
  });

  test("cloud-init's path: user-data's runcmd, chrooted with no network but the stores, installs the same agent, Node and unit", async (t) => {
    const rootfs = await freshPi('pi-cloud-init');
    const userData = inRoot(rootfs, '/boot/firmware/user-data');
    const runcmd = JSON.parse(
      execFileSync('python3', [
        '-c',
        'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))["runcmd"]))',
        userData,
      ]).toString(),
    ) as (string | string[])[];
    assert.ok(runcmd.length > 0, 'user-data has a runcmd');
    for (const command of runcmd) {
      // cloud-init runs a list as argv, a string with sh -c.
      const argv = Array.isArray(command) ? command : ['/bin/sh', '-c', command];
      const { stdout, stderr, ms } = await runOnThePi(rootfs, argv);
      t.diagnostic(`runcmd ${JSON.stringify(argv).slice(0, 80)}... in ${ms} ms:\n${stdout}${stderr}`);
    }
    assertAgentInstalled(rootfs);
    // This copy has its libatomic1: the card's copy is not installed.
    assert.equal(existsSync(inRoot(rootfs, '/usr/local/lib/libatomic.so.1')), false);
  });
});
