// ZooKeeper 3.8 from Debian's zookeeper package, run in the foreground with our own zoo.cfg:
// ZooKeeperServerMain (standalone), no admin server, log4j to the console.
// As a cluster member (context.cluster): QuorumPeerMain with server.K lines and a myid file.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { findOnPath, firstExecutable, firstReadable, isReadable } from './paths.ts';
import { portOf } from './ports.ts';
import { fourLetterWord, hostPort } from './probes.ts';
import { zookeeperSecureCfg, zookeeperSecureSetup } from './secure/zookeeper.ts';
import type { StoreContext, StoreDriver } from './types.ts';

const execFileAsync = promisify(execFile);

/** Debian's libzookeeper-java; its manifest's Class-Path names the dependency jars in /usr/share/java. */
const serverJarCandidates = ['/usr/share/java/zookeeper.jar'];
/**
 * That Class-Path has slf4j-api but no binding, so Debian's own zkServer.sh logs nothing. These two
 * (libslf4j-java, liblog4j1.2-java: dependencies of libzookeeper-java) send the log to log4j 1.2.
 */
const loggingJars = ['/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar'];
const defaultTickTimeMs = 500;
export const zookeeperNoFsyncLine = 'forceSync=no';

interface JavaLaunch {
  java: string;
  jar: string;
  classpath: string;
}

async function resolveJava(): Promise<JavaLaunch | undefined> {
  const java = (await findOnPath('java')) ?? (await firstExecutable(['/usr/bin/java']));
  const jar = await firstReadable(serverJarCandidates);
  if (!java || !jar) return undefined;
  const logging: string[] = [];
  for (const candidate of loggingJars) if (await isReadable(candidate)) logging.push(candidate);
  return { java, jar, classpath: [jar, ...logging].join(path.delimiter) };
}

/** Small heap and a quick-starting JIT: the kit's ZooKeeper holds a few thousand znodes at most. */
const jvmOptions = ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

export const zookeeperDriver: StoreDriver = {
  kind: 'zookeeper',
  portNames: ['client'],
  clusterPortNames: ['quorum', 'election'],

  async resolveBinary() {
    return (await resolveJava())?.jar;
  },

  async version() {
    const launch = await resolveJava();
    if (!launch) return undefined;
    const { stdout } = await execFileAsync(
      launch.java,
      ['-cp', launch.classpath, 'org.apache.zookeeper.Version'],
      {
        timeout: 30_000,
      },
    );
    // Debian's build leaves a Maven placeholder in the version: "3.8.0-${mvngit.commit.id}, built on ...".
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal Maven placeholder
    return stdout.trim().split('\n')[0]?.replace('-${mvngit.commit.id}', '');
  },

  async launchSpec(context: StoreContext) {
    const launch = await resolveJava();
    const tickTimeMs = context.options.zookeeper?.tickTimeMs ?? defaultTickTimeMs;
    const configFile = path.join(context.configDir ?? context.dataDir, 'zoo.cfg');
    const log4jFile = path.join(context.configDir ?? context.dataDir, 'log4j.properties');
    const files = [
      // Secure: zoo.cfg holds the super user's digest.
      {
        path: configFile,
        content: zooCfg(context, tickTimeMs),
        ...(context.options.secure ? { mode: 0o600 } : {}),
      },
      { path: log4jFile, content: log4jProperties },
      // A cluster member's id, read by QuorumPeerMain from the data dir.
      ...(context.cluster
        ? [{ path: path.join(context.dataDir, 'myid'), content: `${context.cluster.index}\n` }]
        : []),
    ];
    return {
      files,
      command: launch?.java ?? 'java',
      args: [
        ...jvmOptions,
        `-Dlog4j.configuration=file:${log4jFile}`,
        '-Dzookeeper.jmx.log4j.disable=true',
        '-cp',
        launch?.classpath ?? serverJarCandidates[0] ?? '',
        context.cluster
          ? 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
          : 'org.apache.zookeeper.server.ZooKeeperServerMain',
        configFile,
      ],
    };
  },

  durability(context) {
    return context.options.durable
      ? { durable: true, how: 'fsync of the transaction log on every write (ZooKeeper default)' }
      : { durable: false, how: zookeeperNoFsyncLine };
  },

  endpoints(context) {
    return [hostPort(context.connectHost, portOf(context, 'client'))];
  },

  async probe(context, signal) {
    // `srvr` answers "not currently serving requests" until the database is loaded; `ruok` would not tell.
    const answer = await fourLetterWord(context.connectHost, portOf(context, 'client'), 'srvr', { signal });
    // A cluster member serves once it has joined a quorum: leader or follower (not 'looking').
    return context.cluster ? /Mode: (leader|follower)/.test(answer) : answer.includes('Mode:');
  },

  async secureSetup(context, signal) {
    const secure = context.options.secure;
    const connect = this.endpoints(context)[0];
    if (secure && connect) await zookeeperSecureSetup(connect, secure, signal);
  },
};

function zooCfg(context: StoreContext, tickTimeMs: number): string {
  return [
    `dataDir=${context.dataDir}`,
    `clientPort=${portOf(context, 'client')}`,
    `clientPortAddress=${context.host}`,
    `tickTime=${tickTimeMs}`,
    `minSessionTimeout=${2 * tickTimeMs}`,
    `maxSessionTimeout=${20 * tickTimeMs}`,
    // Simulated fleets open one session per device from 127.0.0.1; the default cap is 60 per address.
    'maxClientCnxns=0',
    'admin.enableServer=false',
    // The transaction log is written but not fsynced before a write is acknowledged.
    ...(context.options.durable ? [] : [zookeeperNoFsyncLine]),
    '4lw.commands.whitelist=ruok,srvr,stat,mntr,cons',
    ...ensembleCfg(context),
    ...(context.options.secure ? zookeeperSecureCfg(context.options.secure) : []),
    '',
  ].join('\n');
}

/** An ensemble: server.K lines for every member (this one's id is in dataDir/myid), short limits. */
function ensembleCfg(context: StoreContext): string[] {
  const cluster = context.cluster;
  if (!cluster) return [];
  return [
    'initLimit=10',
    'syncLimit=5',
    // Leader election gives up on an unreachable peer after this (default 5 s): a killed member slows less.
    'cnxTimeout=1000',
    ...cluster.members.map(
      (peer) =>
        `server.${peer.index}=${hostPort(peer.connectHost, peer.ports.quorum ?? 0)}:${peer.ports.election ?? 0}`,
    ),
  ];
}

const log4jProperties = `log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.out
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n
`;
