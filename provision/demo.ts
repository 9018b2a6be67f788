// `npm run demo`: the whole demo on one machine. Installs what is missing, starts etcd, ZooKeeper and
// Consul, the live page, and a simulated fleet of 6 devices (in network namespaces as root), prints the
// presenter and audience URLs. Ctrl-C stops everything and leaves no process, namespace or link.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { unitNodeFlags } from '../device/unit.ts';
import { numberSetting, wholeNumber } from '../lib/cli/checks.ts';
import { livenessEnv } from '../lib/cli/common-settings.ts';
import { isEntryPoint } from '../lib/cli/entry-point.ts';
import {
  configOrExit,
  parseCommand,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../lib/cli/settings.ts';
import { onShutdown } from '../lib/cli/shutdown.ts';
import {
  DEFAULT_LIVENESS,
  errorMessage,
  hostPort,
  portSchema,
  toFieldIssues,
} from '../lib/registry/index.ts';
import { makeClassCode } from '../server/kit-contract.ts';
import { lanAddress } from '../server/lan-address.ts';
import { installStores } from './install-stores.ts';
import {
  DEFAULT_STORES_DATA,
  prepareSecureFolder,
  secureFolderOf,
  startStoreOnUsualPort,
} from './run-stores.ts';
import { type SimControl, serveControl } from './sim/control.ts';
import { SimFleet } from './sim/fleet.ts';
import { BRIDGE_ADDRESS, claimNamespaces, releaseNamespaces } from './sim/netns.ts';
import { type ControlledStore, type StoreControl, serveStoreControl } from './stores/control.ts';
import { startCluster, stopAllStores, storeKinds } from './stores/index.ts';
import { parseMembers } from './stores/members.ts';
import { allocatePorts } from './stores/ports.ts';

const FLEETKIT = fileURLToPath(new URL('./fleetkit.mjs', import.meta.url));
/** Nine store processes start together on a 2-core machine, three of them JVMs: the runner's 60 s is tight. */
const CLUSTER_START_TIMEOUT_MS = 120_000;
const say = (line: string) => process.stdout.write(`${line}\n`);

export interface DemoOptions {
  devices: number;
  serverPort: number;
  mode: 'auto' | 'namespaces' | 'processes';
  /** The stores and the page on the LAN, the attendee kit served at /kit/ (server --classroom). */
  classroom: boolean;
  /** Members per store: 1, or a cluster of 3 or 5 on this machine (the presenter kills one on stage). */
  members: number;
  /**
   * Stores requiring credentials (`fleetkit stores --secure`'s folder, .cache/stores/data/secure): the
   * server runs with the server role's credentials, the simulated devices with the device role's.
   */
  secure?: boolean;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const started = Date.now();
  const mode = SimFleet.resolveMode(options.mode);
  let server: ChildProcess | undefined;
  let fleet: SimFleet | undefined;
  let control: SimControl | undefined;
  let storeControl: StoreControl | undefined;
  let stopping: Promise<void> | undefined;
  let bridgeClaimed = false;
  const stop = () =>
    (stopping ??= (async () => {
      say('\nstopping: devices deregister, then the page and the stores go...');
      await fleet?.stop();
      await control?.close();
      await storeControl?.close();
      if (server && server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        await once(server, 'exit');
      }
      await stopAllStores();
      if (bridgeClaimed) await releaseNamespaces(); // made for the stores; the fleet may not have started
      say('stopped: nothing of the demo is left running');
    })());
  onShutdown(stop);

  try {
    say('[1/4] the stores: checking they are installed');
    await installStores({
      only: [...storeKinds, ...(options.secure ? (['openssl'] as const) : [])],
      log: (line) => say(`  ${line}`),
    });
    // Nothing listening that need not be: devices in namespaces reach the stores through the bridge,
    // so then the stores listen on the bridge's address alone (ZooKeeper takes one address; the host's
    // own processes reach it too, it is this machine's), which is made first. Attendees' laptops reach
    // them through the LAN: in a classroom they listen on every address, on purpose.
    const host = options.classroom ? '0.0.0.0' : mode === 'namespaces' ? BRIDGE_ADDRESS : '127.0.0.1';
    if (host === BRIDGE_ADDRESS) {
      bridgeClaimed = true;
      await claimNamespaces();
    }
    const folder = options.secure
      ? await prepareSecureFolder(secureFolderOf(DEFAULT_STORES_DATA), (line) => say(line))
      : undefined;
    const secure = folder ? { folder, namespace: DEMO_NAMESPACE } : undefined;
    const clusters = options.members > 1 ? ` as clusters of ${options.members} members` : '';
    say(`[2/4] starting etcd, ZooKeeper and Consul${clusters} (listening on ${host})`);
    const stores: (ControlledStore & { endpoints: string[] })[] = await Promise.all(
      storeKinds.map((kind) =>
        options.members > 1
          ? startCluster(kind, {
              members: options.members,
              host,
              startTimeoutMs: CLUSTER_START_TIMEOUT_MS,
              secure,
              durable: false,
            })
          : startStoreOnUsualPort(kind, { host, log: say, secure, durable: false }).then((store) => ({
              kind,
              members: [store],
              endpoints: store.endpoints,
            })),
      ),
    );
    // Nothing of a demo needs to survive this machine: the stores do not wait on the disk (a store
    // killed and restarted on stage keeps its data all the same).
    for (const store of stores) {
      const disk = store.members[0]?.durability;
      say(
        `  ${store.kind.padEnd(9)} ${store.endpoints.join(', ')}${disk ? `  (${disk.durable ? 'durable' : 'no fsync'}: ${disk.how})` : ''}`,
      );
    }
    // The presenter's stop / kill / restart of a store or a member, through the page's server only.
    storeControl = await serveStoreControl(stores);
    const storeEnv = Object.fromEntries(
      stores.map((s) => [`FLEET_${s.kind.toUpperCase()}`, s.endpoints.join(',')]),
    );

    say(`[3/4] starting ${options.devices} simulated devices (${mode})`);
    const liveness = { ...DEFAULT_LIVENESS };
    fleet = await SimFleet.start({
      count: options.devices,
      mode,
      stores: Object.fromEntries(stores.map((s) => [s.kind, s.endpoints])),
      namespace: DEMO_NAMESPACE,
      service: 'web',
      // The devices' credentials: the device role's file (FLEET_CREDENTIALS), the server gets the server's.
      ...(folder ? { credentialsEnv: { FLEET_CREDENTIALS: folder.roles.device.env } } : {}),
      liveness,
      nodeFlags: unitNodeFlags(),
      labels: 'zone=demo',
      log: (line) => say(`  ${line}`),
    });
    const controlPort = (await allocatePorts('127.0.0.1', ['control'])).control!;
    // Its secret: to the page's server in its environment, to `fleetkit sim` commands in a 0600 file.
    control = await serveControl(fleet, controlPort, () => void stop().then(() => process.exit(0)), {
      writeFile: true,
    });

    say('[4/4] starting the live page');
    const token = randomBytes(12).toString('base64url');
    // A secure classroom: attendees get the devices' credentials at /kit/ for this code, said in the room.
    const classCode = options.classroom && folder ? makeClassCode() : undefined;
    server = spawn(process.execPath, [FLEETKIT, 'server'], {
      env: {
        ...process.env,
        ...storeEnv,
        ...livenessEnv(liveness),
        FLEET_SERVER_PORT: String(options.serverPort),
        FLEET_PRESENTER_TOKEN: token,
        FLEET_SIM_CONTROL: control.url,
        FLEET_SIM_CONTROL_SECRET: control.secret,
        FLEET_STORE_CONTROL: storeControl.url,
        FLEET_STORE_CONTROL_SECRET: storeControl.secret,
        FLEET_LOG_LEVEL: 'warn',
        ...(folder ? { FLEET_CREDENTIALS: folder.roles.server.env } : {}),
        ...(options.classroom ? { FLEET_CLASSROOM: 'on', FLEET_SERVER_LISTEN: '0.0.0.0' } : {}),
        ...(folder && classCode
          ? { FLEET_CLASS_CREDENTIALS: folder.roles.device.env, FLEET_CLASS_CODE: classCode }
          : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const url = `http://127.0.0.1:${options.serverPort}/`;
    for (let waited = 0; ; waited += 200) {
      if (server.exitCode !== null)
        throw new Error(`the live page did not start (exit code ${server.exitCode}); see its message above`);
      if (
        await fetch(`${url}healthz`)
          .then((r) => r.ok)
          .catch(() => false)
      )
        break;
      if (waited > 20_000) throw new Error('the live page did not answer within 20 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    say(`
ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  presenter (can change colors, unplug devices, stop and kill stores): ${url}?token=${token}
  audience (read-only; on the LAN use this machine's address): ${url}
  simulated devices: fleetkit sim list --control ${control.url}${classroomLines(options, classCode)}
Ctrl-C stops everything.`);
    await once(server, 'exit');
    say('the live page stopped');
    await stop();
    return 1;
  } catch (error) {
    console.error(`demo: ${errorMessage(error)}`);
    await stop();
    return 1;
  }
}

/** With --classroom: what the attendees open and type, with this machine's LAN address in it. */
function classroomLines(options: DemoOptions, classCode: string | undefined): string {
  if (!options.classroom) return '';
  const page = `http://${hostPort(lanAddress(), options.serverPort)}`;
  const code = classCode
    ? `
  the class code: ${classCode}   (write it on the board or say it in the room: it is never on the page)
    join asks for it, then gives each laptop the devices' credentials; rotate them after the class (docs/security.md)`
    : '';
  return `
classroom: attendees open ${page}/kit/ (or type, in an empty folder, with Node 20+):
    curl -O ${page}/kit/fleetkit.mjs
    node fleetkit.mjs join ${hostPort(lanAddress(), options.serverPort)} --name theirname${code}
  the stores and the page listen on every address of this machine: use it on the classroom's network only`;
}

const MODES = ['auto', 'namespaces', 'processes'] as const;
const DEMO_NAMESPACE = 'fleet';

const DEMO_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'devices',
    flag: 'devices',
    env: 'FLEET_DEMO_DEVICES',
    help: 'simulated devices, 1 to 240',
    defaultText: '6',
  },
  { key: 'port', flag: 'port', env: 'FLEET_DEMO_PORT', help: 'port of the live page', defaultText: '3000' },
  {
    key: 'mode',
    flag: 'mode',
    env: 'FLEET_DEMO_MODE',
    help: 'devices in network namespaces (root), as processes, or auto',
    defaultText: 'auto',
  },
  {
    key: 'members',
    flag: 'members',
    env: 'FLEET_DEMO_MEMBERS',
    help: 'members per store: 1, or a cluster of 3 or 5 on this machine (the presenter can kill the leader)',
    defaultText: '1',
  },
  {
    key: 'classroom',
    flag: 'classroom',
    env: 'FLEET_DEMO_CLASSROOM',
    switch: true,
    help: "a workshop: the stores and the page on the LAN, the attendee kit at /kit/ (attendees' laptops join)",
  },
  {
    key: 'secure',
    flag: 'secure',
    env: 'FLEET_DEMO_SECURE',
    switch: true,
    help: 'stores requiring credentials (as `fleetkit stores --secure`, same folder): the devices and the page use them',
  },
];

const ABOUT = {
  usage: 'Usage: fleetkit demo [settings]      (or: npm run demo -- [settings])',
  description:
    'The whole demo on this machine: installs what is missing, starts etcd, ZooKeeper and Consul, the live\npage and simulated devices, prints the presenter and audience URLs. Ctrl-C stops everything.',
};

/** Throws a SettingsError naming every bad setting at once. */
export function parseDemoOptions(input: SettingsInput) {
  return parseCommand(DEMO_SETTINGS, input, ABOUT, (values, issues): DemoOptions | undefined => {
    const devices = wholeNumber(1, 240, 'a number of devices').safeParse(numberSetting(values.devices) ?? 6);
    if (!devices.success) issues.push(...toFieldIssues(devices.error, 'devices'));
    const port = portSchema.safeParse(numberSetting(values.port) ?? 3000);
    if (!port.success) issues.push(...toFieldIssues(port.error, 'port'));
    const mode = (values.mode as string | undefined) ?? 'auto';
    if (!MODES.includes(mode as DemoOptions['mode']))
      issues.push({ field: 'mode', expected: 'auto, namespaces or processes' });
    const classroom = switchValue(values.classroom);
    if (classroom === undefined) issues.push({ field: 'classroom', expected: '1/true/yes or 0/false/no' });
    const members = parseMembers(values.members, issues);
    const secure = switchValue(values.secure);
    if (secure === undefined) issues.push({ field: 'secure', expected: '1/true/yes or 0/false/no' });
    if (
      !devices.success ||
      !port.success ||
      classroom === undefined ||
      members === undefined ||
      secure === undefined
    )
      return undefined;
    return {
      devices: devices.data,
      serverPort: port.data,
      mode: mode as DemoOptions['mode'],
      classroom,
      members,
      secure,
    };
  });
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const options = configOrExit('demo', () => parseDemoOptions({ argv, env }));
  if (typeof options === 'number') return options;
  return runDemo(options);
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
