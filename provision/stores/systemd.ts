// The stores as systemd units: each store (or each member of a cluster) on fixed ports with a data dir
// of its own, run by the very command line the foreground runner spawns (the driver's launchSpec), as
// the store's own system user (fleetkit-etcd, ...), from installed programs, hardened (hardening()).
// This file only plans and renders; provision/run-stores-systemd.ts writes the files and calls systemctl.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_PORTS, STORE_KINDS } from '../../lib/registry/index.ts';
import { drivers } from './drivers.ts';
import { projectRoot } from './paths.ts';
import { connectHostFor, storeContext } from './process.ts';
import type { SecureFolder, SecureLaunch } from './secure/types.ts';
import type {
  ClusterMembership,
  ClusterPeer,
  LaunchFile,
  LaunchSpec,
  StoreContext,
  StoreKind,
} from './types.ts';

/** The first line of every unit the kit writes: only files carrying it are ever rewritten or removed. */
export const UNIT_MARKER = '# Written by `fleetkit stores --systemd`';

/** Every unit name the kit may write: fleetkit-<kind>.service, fleetkit-<kind>-m<K>.service. */
export const UNIT_NAME = /^fleetkit-(etcd|zookeeper|consul)(-m[1-9])?\.service$/;

/**
 * Fixed ports, so that a unit's command line never changes between boots: member 1 on the store's usual
 * ports (etcdctl, zkCli.sh and consul work without flags), member K a stride further.
 */
const FIXED_PORTS: Record<StoreKind, { base: Record<string, number>; stride: Record<string, number> }> = {
  etcd: { base: { client: DEFAULT_PORTS.etcd, peer: 2380 }, stride: { client: 10, peer: 10 } },
  zookeeper: {
    base: { client: DEFAULT_PORTS.zookeeper, quorum: 2888, election: 3888 },
    stride: { client: 1, quorum: 1, election: 1 },
  },
  consul: {
    base: { http: DEFAULT_PORTS.consul, server: 8300, serfLan: 8301, serfWan: 8302, grpc: -1, dns: -1 },
    stride: { http: 10, server: 10, serfLan: 10, serfWan: 10, grpc: 0, dns: 0 },
  },
};

/** The ports of member `index` (1-based; 1 for a single store), moved by `offset`; -1 stays disabled. */
export function fixedPorts(kind: StoreKind, index: number, offset = 0): Record<string, number> {
  const { base, stride } = FIXED_PORTS[kind];
  return Object.fromEntries(
    Object.entries(base).map(([name, port]) => [
      name,
      port < 0 ? port : port + (stride[name] ?? 0) * (index - 1) + offset,
    ]),
  );
}

/** The highest port any plan uses with this offset, for checking an offset before planning. */
export function highestFixedPort(members: number, offset: number): number {
  return Math.max(...STORE_KINDS.flatMap((kind) => Object.values(fixedPorts(kind, members, offset))));
}

export interface UnitPlanOptions {
  /** 1 (one store), or the members of a cluster on this host. */
  members: number;
  /** Listen address. */
  host: string;
  /** Absolute; each unit gets `<dataDir>/<kind>` or `<dataDir>/<kind>-m<K>`. */
  dataDir: string;
  /** Added to every fixed port. */
  portOffset: number;
  /**
   * Secure units (`--secure`): each store's config files and its copies of the secure folder's
   * server-side files go to `<configDir>/<kind>` (or `<kind>-m<K>`), root's and readable by its group.
   */
  secure?: { launch: SecureLaunch; configDir: string };
}

export interface PlannedUnit {
  kind: StoreKind;
  /** fleetkit-etcd.service, fleetkit-etcd-m2.service */
  unitName: string;
  /** "etcd", "etcd (member 2 of 3)" */
  title: string;
  context: StoreContext;
  spec: LaunchSpec;
  endpoints: string[];
  /** A program of the project's cache (Consul) that the unit runs from PROGRAM_DIR: copied there first. */
  install?: { from: string; to: string };
  /**
   * Secure units: the folder (root:fleetkit-<kind>, 0750) holding its secret-bearing files (0640): the
   * config files its launchSpec writes there, and copies (never links) of the secure folder's files it needs.
   */
  configDir?: string;
}

/** The marker file in every config folder the kit makes: only such folders are ever emptied or removed. */
export const CONFIG_MARKER = '.fleetkit';

/**
 * What etcd reads from the secure folder (the CA to check clients, its server certificate and key, the
 * JWT keys): copied into its config folder, for its user cannot (and must not) read root's secure folder.
 * Consul's and ZooKeeper's secrets are in their config files (fleetkit-consul.json, zoo.cfg) instead.
 */
const ETCD_COPIES = ['ca', 'etcdServerCert', 'etcdServerKey', 'jwtPrivate', 'jwtPublic'] as const;

/** The secure launch a unit sees: etcd's files named by their copies in `configDir`. */
async function unitSecure(
  kind: StoreKind,
  launch: SecureLaunch,
  configDir: string,
): Promise<{ launch: SecureLaunch; copies: LaunchFile[] }> {
  if (kind !== 'etcd') return { launch, copies: [] };
  const files: SecureFolder['files'] = { ...launch.folder.files };
  const copies: LaunchFile[] = [];
  for (const name of ETCD_COPIES) {
    const from = launch.folder.files[name];
    const to = path.join(configDir, path.basename(from));
    files[name] = to;
    copies.push({ path: to, content: await readFile(from, 'utf8') });
  }
  return { launch: { ...launch, folder: { ...launch.folder, files } }, copies };
}

/** A program in the project folder, and the installed path a unit runs it from instead. */
export function installedProgram(program: string): { from: string; to: string } | undefined {
  const inProject = path.relative(projectRoot, program);
  if (inProject.startsWith('..') || path.isAbsolute(inProject)) return undefined;
  return { from: program, to: path.join(PROGRAM_DIR, path.basename(program)) };
}

/** The units of one store: one, or one per member. */
export async function planUnits(kind: StoreKind, options: UnitPlanOptions): Promise<PlannedUnit[]> {
  const driver = drivers[kind];
  const count = options.members;
  const clustered = count > 1;
  const dataDirOf = (index: number) => path.join(options.dataDir, clustered ? `${kind}-m${index}` : kind);
  const peers: ClusterPeer[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    connectHost: connectHostFor(options.host),
    ports: Object.freeze(fixedPorts(kind, i + 1, options.portOffset)),
  }));
  // Stable across runs (etcd only reads it when it creates its data dir, but the unit must not change).
  const token = `fleetkit-${createHash('sha256').update(options.dataDir).digest('hex').slice(0, 12)}`;
  const planned: PlannedUnit[] = [];
  for (const peer of peers) {
    const cluster: ClusterMembership | undefined = clustered
      ? Object.freeze({ index: peer.index, token, members: peers })
      : undefined;
    const dataDir = dataDirOf(peer.index);
    const configDir = options.secure
      ? path.join(options.secure.configDir, path.basename(dataDir))
      : undefined;
    const secure =
      options.secure && configDir ? await unitSecure(kind, options.secure.launch, configDir) : undefined;
    const context = storeContext({
      host: options.host,
      ports: peer.ports,
      dataDir,
      ...(configDir ? { configDir } : {}),
      // A unit is the control host's store for good: durable, as `fleetkit stores` is by default.
      options: { durable: true, ...(secure ? { secure: secure.launch } : {}) },
      cluster,
    });
    const launched = await driver.launchSpec(context);
    const spec = secure ? { ...launched, files: [...launched.files, ...secure.copies] } : launched;
    const install = installedProgram(spec.command);
    planned.push({
      kind,
      unitName: clustered ? `fleetkit-${kind}-m${peer.index}.service` : `fleetkit-${kind}.service`,
      title: clustered ? `${kind} (member ${peer.index} of ${count})` : kind,
      context,
      spec: install ? { ...spec, command: install.to } : spec,
      endpoints: driver.endpoints(context),
      ...(install ? { install } : {}),
      ...(configDir ? { configDir } : {}),
    });
  }
  return planned;
}

/** The system user a store's units run as: one per store, never root, owning only its data. */
export const storeUser = (kind: StoreKind) => `fleetkit-${kind}`;

/** Where `fleetkit stores --systemd` installs a program that came into the project's cache (Consul). */
export const PROGRAM_DIR = '/usr/local/lib/fleetkit/bin';

/**
 * What systemd takes away from each store (systemd.exec(5)): the system read-only, no home folders, a
 * private /tmp, no devices, no new privileges, no capabilities, the network families a store uses.
 * The JVM writes and runs machine code it makes (its JIT): MemoryDenyWriteExecute is for the Go stores.
 * `systemd-analyze security --offline=yes` rates the units 2.x-3.x ("OK"; an unhardened unit is 9.6).
 */
export function hardening(kind: StoreKind, dataDir: string, configDir?: string): string[] {
  const stateDirectory = path.relative('/var/lib', dataDir);
  const underVarLib = !stateDirectory.startsWith('..') && !path.isAbsolute(stateDirectory);
  return [
    `User=${storeUser(kind)}`,
    `Group=${storeUser(kind)}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'PrivateMounts=yes',
    'ProtectProc=invisible',
    'SystemCallArchitectures=native',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    // Go's net package asks the kernel for the interfaces over netlink (Consul's bind checks).
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    // The Go stores (etcd, Consul) use the ordinary service calls; a call outside them fails (EPERM),
    // it does not kill the store. The JVM is left without both (not tried under systemd here).
    ...(kind === 'zookeeper'
      ? []
      : ['MemoryDenyWriteExecute=yes', 'SystemCallFilter=@system-service', 'SystemCallErrorNumber=EPERM']),
    'UMask=0077',
    // Its data (and config files) the only place it writes; under /var/lib systemd keeps it its user's.
    ...(underVarLib && stateDirectory !== ''
      ? [`StateDirectory=${escapeSpecifiers(checkText(stateDirectory))}`, 'StateDirectoryMode=0700']
      : []),
    `ReadWritePaths=${escapeSpecifiers(checkText(dataDir))}`,
    // Secure: its keys and config, read-only (ProtectSystem=strict makes /etc so; said for any path).
    ...(configDir ? [`ReadOnlyPaths=${escapeSpecifiers(checkText(configDir))}`] : []),
  ];
}

/** A unit file for one planned store or member. */
export function renderUnit(unit: PlannedUnit, removeCommand: string): string {
  const { spec, context } = unit;
  if (!path.isAbsolute(spec.command)) {
    throw new Error(`${unit.title}: its program is not an absolute path (${spec.command}); install it first`);
  }
  if (installedProgram(spec.command)) {
    throw new Error(
      `${unit.title}: its program ${spec.command} is in the project folder; a unit runs installed programs only (${PROGRAM_DIR})`,
    );
  }
  const environment = Object.entries(spec.env ?? {}).map(
    ([name, value]) => `Environment=${quoteArg(`${name}=${value}`)}`,
  );
  const exec = [spec.command, ...spec.args].map(quoteArg).join(' \\\n    ');
  return [
    `${UNIT_MARKER} (${unit.title}). A run rewrites it;`,
    `# \`${removeCommand}\` removes it. Its config files are in ${checkText(unit.configDir ?? context.dataDir)}.`,
    '[Unit]',
    `Description=fleetkit ${unit.title}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${escapeSpecifiers(checkText(context.dataDir))}`,
    ...hardening(unit.kind, context.dataDir, unit.configDir),
    ...environment,
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=2',
    // A JVM stopped with SIGTERM exits with 143: that is a clean stop, not a failure.
    ...(unit.kind === 'zookeeper' ? ['SuccessExitStatus=143'] : []),
    'TimeoutStopSec=15',
    // A fleet of simulated devices holds many connections.
    'LimitNOFILE=65536',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * One argument as systemd's ExecStart= reads it: `%` (specifiers) and `$` (variables) doubled, and
 * double quotes with C escapes around anything holding a space, a quote or a backslash.
 */
export function quoteArg(arg: string): string {
  const escaped = escapeSpecifiers(checkText(arg)).replaceAll('$', () => '$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

const escapeSpecifiers = (text: string) => text.replaceAll('%', '%%');

/** A line break in a unit would start a directive of its own: refuse every control character. */
function checkText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new Error(`a control character in ${JSON.stringify(text)}`);
  return text;
}
