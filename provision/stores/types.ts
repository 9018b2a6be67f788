// Public types of the store runner, and the contract each store's driver fulfils.
import { STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import type { SecureLaunch } from './secure/types.ts';

export type { StoreKind };

/** The registry's list: the runner runs every store the registry speaks to. */
export const storeKinds: readonly StoreKind[] = STORE_KINDS;

export interface StartOptions {
  /** Default: a fresh mkdtemp dir under os.tmpdir(), removed by stop({ removeData: true }), stopAllStores() or at exit. */
  dataDir?: string;
  /**
   * true: every write the store acknowledges is on the disk first (fsync), as the stores do out of the
   * box: `fleetkit stores` (unless --no-fsync) and its systemd units. Default false, for tests, the
   * demo and the bench, where nothing needs to survive the machine: etcd runs with --unsafe-no-fsync,
   * ZooKeeper with forceSync=no, and Consul (which has no such option) keeps its state in a tmpfs
   * (/dev/shm when it is a writable tmpfs; otherwise on disk, said by storeDurability()). Either way
   * a store killed and restarted keeps its data: only the machine's crash or reboot loses it.
   */
  durable?: boolean;
  /**
   * Named ports; missing ones are free loopback ports.
   * etcd: client, peer · zookeeper: client · consul: http, server, serfLan, serfWan, grpc (default -1), dns (default -1).
   */
  ports?: Partial<Record<string, number>>;
  /** Listen address, default '127.0.0.1'. With '0.0.0.0' the endpoints still name 127.0.0.1. */
  host?: string;
  /** The store's stdout/stderr, one call per line. Default: discarded (the last 200 lines are kept for errors). */
  log?: (line: string) => void;
  /** How long to wait for the store to answer, default 30000. */
  startTimeoutMs?: number;
  /** tickTimeMs default 500: sessions of 1-10 s are allowed (min 2 ticks, max 20 ticks). */
  zookeeper?: { tickTimeMs?: number };
  /** 'server' (default) keeps its state across restart() like a real server; 'dev' keeps everything in memory. */
  consul?: { mode?: 'dev' | 'server' };
  /**
   * Run the store requiring credentials (provision/stores/secure): etcd TLS with client certificates and
   * JWT auth, Consul ACLs with default deny, ZooKeeper digest ACLs on the namespace. Users, roles,
   * policies, tokens and ACLs are made after it answers, before start resolves (each start: idempotent).
   */
  secure?: SecureLaunch;
}

export interface StopOptions {
  /** Remove the data dir too, if this library created it (a dataDir passed in is never removed). */
  removeData?: boolean;
}

export interface StoreProcess {
  readonly kind: StoreKind;
  /** Client endpoints: etcd 'http://127.0.0.1:PORT', zookeeper '127.0.0.1:PORT', consul 'http://127.0.0.1:PORT'. */
  readonly endpoints: string[];
  /** Every named port actually used (-1 = disabled). */
  readonly ports: Readonly<Record<string, number>>;
  readonly dataDir: string;
  /** How this store treats the disk, as launched (see StartOptions.durable). */
  readonly durability: StoreDurability;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM, wait for exit, SIGKILL after 5 s. Idempotent. */
  stop(options?: StopOptions): Promise<void>;
  /** Send a signal (default SIGKILL) and wait for exit; SIGSTOP/SIGCONT return at once (freeze/thaw a store). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same ports and data dir (stopping first if running), wait until it answers. */
  restart(): Promise<void>;
}

/** What one store needs to be run: the generic runner in process.ts does the rest. */
export interface StoreDriver {
  readonly kind: StoreKind;
  /** Ports allocated when not given. */
  readonly portNames: readonly string[];
  /** Ports with a fixed default instead of a free port (-1 = disabled). */
  readonly defaultPorts?: Readonly<Record<string, number>>;
  /** Extra ports a cluster member needs (allocated by startCluster), e.g. ZooKeeper's quorum and election. */
  readonly clusterPortNames?: readonly string[];
  /** The program that identifies the store on this machine, or undefined when not installed. */
  resolveBinary(): Promise<string | undefined>;
  /** One-line version string, for the installer and diagnostics. */
  version(): Promise<string | undefined>;
  /**
   * The command line and the config files it reads, for this context: pure (nothing is written). The
   * one source of how a store is run: the foreground runner writes the files and spawns it, the
   * systemd renderer writes the same files and puts the same command line in a unit.
   */
  launchSpec(context: StoreContext): Promise<LaunchSpec>;
  endpoints(context: StoreContext): string[];
  /**
   * Without durability, this store has no option to skip fsync: its state goes to a tmpfs dir
   * (context.stateDir) instead (Consul).
   */
  readonly stateInMemory?: boolean;
  /** How the launch spec for this context treats the disk (pure). */
  durability(context: StoreContext): StoreDurability;
  /** True once the store answers like a ready server. Must honour the signal. */
  probe(context: StoreContext, signal: AbortSignal): Promise<boolean>;
  /** With options.secure: make the roles' users/tokens/ACLs once the store answers (idempotent). */
  secureSetup?(context: StoreContext, signal: AbortSignal): Promise<void>;
}

export interface StoreContext {
  readonly host: string;
  /** Address clients use: host, or loopback when host is a wildcard. */
  readonly connectHost: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly dataDir: string;
  /**
   * Where the store keeps its state when not in dataDir: Consul without durability, a tmpfs dir. The
   * config files stay in dataDir (or configDir).
   */
  readonly stateDir?: string;
  /**
   * Where the config files the store reads go (zoo.cfg, fleetkit-consul.json, log4j.properties), when
   * not the data dir: a secure systemd unit's /etc/fleetkit/<store>, root's, readable by its group.
   */
  readonly configDir?: string;
  readonly options: Readonly<StartOptions>;
  /** Set when this store is one member of a cluster started by startCluster(). */
  readonly cluster?: ClusterMembership;
}

/** What a driver needs to run one member of a cluster: who it is and where the others are. */
export interface ClusterMembership {
  /** 1-based index of this member. */
  readonly index: number;
  /** Unique per cluster (etcd's --initial-cluster-token). */
  readonly token: string;
  /** Every member, this one included, in index order. */
  readonly members: readonly ClusterPeer[];
}

export interface ClusterPeer {
  readonly index: number;
  /** Address the others reach it on. */
  readonly connectHost: string;
  readonly ports: Readonly<Record<string, number>>;
}

export interface ClusterOptions {
  /** Number of members, default 3. */
  members?: number;
  /** Listen address of every member, default '127.0.0.1'. */
  host?: string;
  /** Every member's stdout/stderr, one call per line, prefixed with 'mK '. */
  log?: (line: string) => void;
  /** How long to wait for each member to answer, default 60000. */
  startTimeoutMs?: number;
  /** Every member requiring credentials (StartOptions.secure); the setup runs on each, idempotent. */
  secure?: SecureLaunch;
  /** As StartOptions.durable, for every member (default false: no fsync). */
  durable?: boolean;
}

export interface StoreCluster {
  readonly kind: StoreKind;
  /** Each a normal StoreProcess: stop(), kill(), restart() work per member; restart() rejoins the cluster. */
  readonly members: StoreProcess[];
  /** Every member's client endpoint, in member order. */
  readonly endpoints: string[];
  /** Stop every member, one after another (each as StoreProcess.stop: SIGTERM, SIGKILL after 5 s). */
  stop(options?: StopOptions): Promise<void>;
}

/** How a launched store treats the disk, for the console lines and the bench's notes. */
export interface StoreDurability {
  /** Each acknowledged write is on the disk (fsync) first. */
  readonly durable: boolean;
  /** What makes it so, e.g. 'etcd --unsafe-no-fsync' or 'data dir /dev/shm/fleetkit-consul-x (tmpfs)'. */
  readonly how: string;
}

export interface LaunchSpec {
  /** Absolute path of the program. */
  command: string;
  args: string[];
  /** Added to the environment (the foreground runner passes its own environment too). */
  env?: Record<string, string>;
  /** Config files the command reads, to write before it starts (absolute paths in the data dir). */
  files: LaunchFile[];
}

export interface LaunchFile {
  path: string;
  content: string;
  /** File mode, e.g. 0o600 for a file holding a token or a digest; default: the umask's. */
  mode?: number;
}
