// What a deploy does on each Pi, as data: the dry run prints these steps, the real run executes them.
// Every path and argument in a remote command is single-quoted; the only unquoted text is the user's
// own restart command, which is a shell command by definition.
import path from 'node:path';
import { agentAccount, agentAccountShell, installPaths, LED_RULES_FILE } from '../../device/unit.ts';
import { shellWord as q } from '../../lib/cli/shell-quote.ts';
import { piCredentials } from '../flash/credentials.ts';
import { MIN_NODE_MAJOR, type NodeArch } from '../node/versions.ts';
import type { DeploySettings } from './settings.ts';

export type StepName = 'check' | 'node' | 'prepare' | 'copy' | 'restart' | 'health';

export interface Step {
  name: StepName;
  /** What it does, for the dry run and for failures ("while copying the agent"). */
  title: string;
  /** The one string ssh hands to the remote shell. */
  remoteCommand: string;
  /** A file of the local bundle folder sent on stdin (the copies). */
  stdinName?: string;
  /** Progress line once it succeeded; none for the steps in between. */
  done?: string;
  /** Append the command's first line of output to the progress line. */
  showOutput?: boolean;
}

/** The files of the bundle folder (buildAgent writes the first two; main writes agent.env and credentials/). */
export const BUNDLE = {
  agent: 'fleetkit-agent.mjs',
  unit: 'fleetkit-agent.service',
  env: 'agent.env',
  /** The devices' credentials folder (--credentials), its files as packCredentials made them. */
  credentials: 'credentials',
} as const;

export interface RemotePaths {
  agentDir: string;
  /** The kit's Node.js folder, and the binary the unit runs. */
  nodeDir: string;
  node: string;
  configDir: string;
  unitDir: string;
  agent: string;
  env: string;
  unit: string;
}

/** Where the unit expects its files (device/unit.ts reads them from the unit), under `prefix`. */
export function remotePaths(prefix: string): RemotePaths {
  const under = (absolute: string) => path.posix.join(prefix, absolute);
  const on = installPaths();
  return {
    agentDir: under(on.agentDir),
    nodeDir: under(on.nodeDir),
    node: under(on.node),
    configDir: under(on.configDir),
    unitDir: under(on.unitDir),
    agent: under(on.agent),
    env: under(on.env),
    unit: under(path.posix.join(on.unitDir, on.unitName)),
  };
}

/**
 * What the Pi has: its architecture as dpkg names it (armhf on a 32-bit system, even under a 64-bit
 * kernel), the kit's node (/opt/fleetkit/node/bin/node) and the Pi's own, each with its version.
 */
function probeScript(paths: RemotePaths, remoteNode: string): string {
  return [
    'echo "arch=$(dpkg --print-architecture 2>/dev/null || uname -m)"',
    `kit=${q(paths.node)}`,
    'if [ -x "$kit" ]; then echo "kit=$("$kit" --version 2>/dev/null)"; fi',
    `own=$(command -v ${q(remoteNode)} 2>/dev/null)`,
    'if [ -n "$own" ]; then echo "own=$(readlink -f "$own") $("$own" --version 2>/dev/null)"; fi',
    'true',
  ].join('; ');
}

export interface NodeProbe {
  /** dpkg's name (arm64, armhf, amd64) or uname -m's. */
  arch: string;
  kitVersion: string | undefined;
  own: { path: string; version: string | undefined } | undefined;
}

export function parseProbe(stdout: string): NodeProbe {
  const value = (key: string) =>
    stdout
      .split('\n')
      .find((line) => line.startsWith(`${key}=`))
      ?.slice(key.length + 1)
      .trim();
  const own = value('own');
  const [ownPath, ownVersion] = own ? own.split(' ') : [];
  return {
    arch: value('arch') ?? '',
    kitVersion: value('kit') || undefined,
    own: ownPath ? { path: ownPath, version: ownVersion || undefined } : undefined,
  };
}

const majorOf = (version: string | undefined) => {
  const match = /^v(\d+)\./.exec(version ?? '');
  return match ? Number(match[1]) : undefined;
};

/** Node's name for the Pi's architecture; undefined where there is no official build (armv6, ...). */
export function nodeArchOf(arch: string): NodeArch | undefined {
  if (arch === 'arm64' || arch === 'aarch64') return 'arm64';
  if (arch === 'armhf' || arch === 'armv7l') return 'armv7l';
  if (arch === 'amd64' || arch === 'x86_64') return 'x64';
  return undefined;
}

export type NodeAction =
  | { kind: 'keep'; version: string }
  | { kind: 'link'; target: string; version: string }
  | { kind: 'install'; arch: NodeArch; why: string }
  | { kind: 'impossible'; why: string };

/** Keep the kit's node when it runs and is 20+; else link the Pi's own when 20+; else install the kit's build. */
export function decideNode(probe: NodeProbe): NodeAction {
  const kitMajor = majorOf(probe.kitVersion);
  if (kitMajor !== undefined && kitMajor >= MIN_NODE_MAJOR)
    return { kind: 'keep', version: probe.kitVersion! };
  const ownMajor = majorOf(probe.own?.version);
  if (probe.own?.version && ownMajor !== undefined && ownMajor >= MIN_NODE_MAJOR) {
    return { kind: 'link', target: probe.own.path, version: probe.own.version };
  }
  const why = probe.own
    ? `its node (${probe.own.path}) is ${probe.own.version ?? 'not working'}, older than ${MIN_NODE_MAJOR}`
    : 'it has no node';
  const arch = nodeArchOf(probe.arch);
  if (!arch) {
    return {
      kind: 'impossible',
      why: `${why}, and there is no official Node.js build for ${probe.arch || 'its architecture'} (a Pi 1 or Zero is armv6: not supported)`,
    };
  }
  return { kind: 'install', arch, why };
}

/** The steps that give the Pi its /opt/fleetkit/node/bin/node, once the probe said what it has. */
export function nodeSteps(
  settings: DeploySettings,
  action: NodeAction,
  build?: { file: string; version: string; sha256: string },
): Step[] {
  const paths = remotePaths(settings.prefix);
  const privileged = (script: string) => (settings.sudo ? `sudo -n -- sh -c ${q(script)}` : script);
  if (action.kind === 'link') {
    return [
      {
        name: 'node',
        title: `linking ${action.target} as ${paths.node}`,
        remoteCommand: privileged(
          `mkdir -p ${q(path.posix.dirname(paths.node))} && ln -sfn ${q(action.target)} ${q(paths.node)}`,
        ),
        done: `node: linked the Pi's own ${action.target} (${action.version}) as ${paths.node}`,
      },
    ];
  }
  if (action.kind !== 'install' || !build) return [];
  const name = path.posix.basename(build.file);
  const tgz = path.posix.join(paths.agentDir, `${name}.fleetkit-new`);
  const fresh = `${paths.nodeDir}.fleetkit-new`;
  const old = `${paths.nodeDir}.fleetkit-old`;
  const unpack = [
    `printf '%s  %s\\n' ${q(build.sha256)} ${q(tgz)} | sha256sum -c --quiet -`,
    `rm -rf ${q(fresh)}`,
    `mkdir -p ${q(fresh)}`,
    `tar -xzf ${q(tgz)} -C ${q(fresh)} --strip-components=1 package/bin/node package/LICENSE`,
    `${q(`${fresh}/bin/node`)} --version`,
    `rm -rf ${q(old)}`,
    `{ { [ ! -e ${q(paths.nodeDir)} ] && [ ! -L ${q(paths.nodeDir)} ]; } || mv ${q(paths.nodeDir)} ${q(old)}; }`,
    `mv ${q(fresh)} ${q(paths.nodeDir)}`,
    `rm -rf ${q(old)} ${q(tgz)}`,
  ].join(' && ');
  return [
    {
      name: 'node',
      title: `copying Node.js ${build.version} (${action.arch}) to ${tgz}`,
      remoteCommand: privileged(`mkdir -p ${q(paths.agentDir)} && umask 022 && cat > ${q(tgz)}`),
      stdinName: build.file,
    },
    {
      name: 'node',
      title: `checking its sha256 and unpacking it into ${paths.nodeDir}`,
      remoteCommand: privileged(unpack),
      done: `node: installed Node.js ${build.version} (${action.arch}) from this machine's cache into ${paths.nodeDir} (${action.why})`,
    },
  ];
}

// argv: the URL, the seconds to wait. Tries every half second; prints the answer, or the last problem.
const HEALTH_CHECK =
  'const [url,seconds]=process.argv.slice(1);const end=Date.now()+Number(seconds)*1000;let last="no answer";' +
  '(async()=>{for(;;){try{const r=await fetch(url,{signal:AbortSignal.timeout(2000)});' +
  'if(r.ok){console.log(url+" answered "+r.status);return}last="HTTP "+r.status}' +
  'catch(e){last=(e.cause&&e.cause.code)||e.message}' +
  'if(Date.now()>end){console.error("no healthy answer from "+url+" within "+seconds+" s (last: "+last+")");process.exit(1)}' +
  'await new Promise(r=>setTimeout(r,500))}})()';

/**
 * The devices' credentials into <prefix>/etc/fleetkit/credentials: a fresh folder (0700) beside it, each
 * file written 0600 (umask 077 from the first byte), owned by the agent's user (the unit's User=, device/unit.ts
 * agentAccount; the ssh user when that user does not exist there), then moved into place in one rename. Only file
 * names and modes appear in the commands: the contents go on stdin.
 */
function credentialsSteps(settings: DeploySettings, privileged: (script: string) => string): Step[] {
  const packed = settings.credentials;
  if (!packed) return [];
  const { dir } = piCredentials(settings.prefix);
  const fresh = `${dir}.fleetkit-new`;
  const old = `${dir}.fleetkit-old`;
  const user = agentAccount();
  const place = [
    `owner=${q(user)}`,
    'id "$owner" >/dev/null 2>&1 || owner=$(id -un)',
    `chown -R "$owner:$(id -gn "$owner")" ${q(fresh)}`,
    `rm -rf ${q(old)}`,
    `{ { [ ! -e ${q(dir)} ] && [ ! -L ${q(dir)} ]; } || mv ${q(dir)} ${q(old)}; }`,
    `mv ${q(fresh)} ${q(dir)}`,
    `rm -rf ${q(old)}`,
    'echo "(owner $owner)"',
  ].join(' && ');
  return [
    {
      name: 'copy',
      title: `creating ${fresh} (mode 700)`,
      remoteCommand: privileged(`umask 077 && rm -rf ${q(fresh)} && mkdir -p -m 700 ${q(fresh)}`),
    },
    ...packed.files.map((file) => ({
      name: 'copy' as const,
      title: `copying the credentials' ${file.name} (mode 600)`,
      remoteCommand: privileged(
        `umask 077 && cat > ${q(`${fresh}/${file.name}`)} && chmod 600 ${q(`${fresh}/${file.name}`)}`,
      ),
      stdinName: `${BUNDLE.credentials}/${file.name}`,
    })),
    {
      name: 'copy',
      title: `moving them into ${dir}`,
      remoteCommand: privileged(place),
      done: `copied the stores' credentials (${packed.summary}) to ${dir} (folder 700, files 600)`,
      showOutput: true,
    },
  ];
}

/** The steps for every Pi, in order. */
export function planSteps(settings: DeploySettings): Step[] {
  const paths = remotePaths(settings.prefix);
  const privileged = (script: string) => (settings.sudo ? `sudo -n -- sh -c ${q(script)}` : script);
  // Written beside the target, then renamed: a Pi never runs half a file, even if the link drops.
  const install = (target: string, mode: '644' | '600') => {
    const partial = `${target}.fleetkit-new`;
    return privileged(
      `umask ${mode === '600' ? '077' : '022'} && cat > ${q(partial)} && chmod ${mode} ${q(partial)} && mv -f ${q(partial)} ${q(target)}`,
    );
  };
  const steps: Step[] = [
    {
      name: 'check',
      title: 'checking what the Pi has (its architecture, its Node.js)',
      remoteCommand: probeScript(paths, settings.remoteNode),
      done: 'connected',
    },
    {
      name: 'prepare',
      title: `creating ${paths.agentDir}, ${paths.configDir} and ${paths.unitDir}`,
      remoteCommand: privileged(
        `mkdir -p ${[paths.agentDir, paths.configDir, paths.unitDir].map(q).join(' ')}`,
      ),
    },
    {
      // The unit runs the agent as its own user (never root), the LED through a udev rule: both made
      // before the credentials, which that user owns (device/unit.ts).
      name: 'prepare',
      title: `the agent's user ${agentAccount()} and its LED rule ${path.posix.join(settings.prefix, LED_RULES_FILE)}`,
      remoteCommand: privileged(agentAccountShell(settings.prefix)),
    },
    {
      name: 'copy',
      title: `copying the agent to ${paths.agent}`,
      remoteCommand: install(paths.agent, '644'),
      stdinName: BUNDLE.agent,
    },
    {
      name: 'copy',
      title: `copying the unit to ${paths.unit}`,
      remoteCommand: install(paths.unit, '644'),
      stdinName: BUNDLE.unit,
    },
    {
      name: 'copy',
      title: `copying the settings to ${paths.env} (mode 600)`,
      remoteCommand: install(paths.env, '600'),
      stdinName: BUNDLE.env,
      done: 'copied 3 files',
    },
    ...credentialsSteps(settings, privileged),
    {
      name: 'restart',
      title: 'restarting the agent',
      remoteCommand: privileged(settings.restartCommand),
      done: 'restarted',
    },
  ];
  if (settings.healthTimeoutSeconds !== undefined) {
    const url = settings.agentEnv.healthUrl;
    steps.push({
      name: 'health',
      title: `waiting for ${url} (up to ${settings.healthTimeoutSeconds} s)`,
      remoteCommand: [paths.node, '-e', HEALTH_CHECK, url, String(settings.healthTimeoutSeconds)]
        .map(q)
        .join(' '),
      done: 'healthy',
    });
  }
  return steps;
}
