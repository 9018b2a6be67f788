// What a deploy does on each Pi, as data: the dry run prints these steps, the real run executes them.
// Every path and argument in a remote command is single-quoted; the only unquoted text is the user's
// own restart command, which is a shell command by definition.
import path from 'node:path';
import { installPaths } from '../../device/unit.ts';
import { shellWord as q } from '../../lib/cli/shell-quote.ts';
import type { DeploySettings } from './settings.ts';

export type StepName = 'check' | 'prepare' | 'copy' | 'restart' | 'health';

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

/** The files of the bundle folder (buildAgent writes the first two; main writes agent.env). */
export const BUNDLE = {
  agent: 'fleetkit-agent.mjs',
  unit: 'fleetkit-agent.service',
  env: 'agent.env',
} as const;

export interface RemotePaths {
  agentDir: string;
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
    configDir: under(on.configDir),
    unitDir: under(on.unitDir),
    agent: under(on.agent),
    env: under(on.env),
    unit: under(path.posix.join(on.unitDir, on.unitName)),
  };
}

// Run on the Pi with `node -e` (shellWord makes each one argument, quotes and all). Plain JavaScript
// that an old Node.js still runs, so that it can say it is too old.
const NODE_VERSION_CHECK =
  'const major=Number(process.versions.node.split(".")[0]);' +
  'if(major<20){console.error("node "+process.version+" is too old: the agent needs Node.js 20 or newer");process.exit(3)}' +
  'console.log(process.version)';

// argv: the URL, the seconds to wait. Tries every half second; prints the answer, or the last problem.
const HEALTH_CHECK =
  'const [url,seconds]=process.argv.slice(1);const end=Date.now()+Number(seconds)*1000;let last="no answer";' +
  '(async()=>{for(;;){try{const r=await fetch(url,{signal:AbortSignal.timeout(2000)});' +
  'if(r.ok){console.log(url+" answered "+r.status);return}last="HTTP "+r.status}' +
  'catch(e){last=(e.cause&&e.cause.code)||e.message}' +
  'if(Date.now()>end){console.error("no healthy answer from "+url+" within "+seconds+" s (last: "+last+")");process.exit(1)}' +
  'await new Promise(r=>setTimeout(r,500))}})()';

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
      title: 'checking Node.js on the Pi',
      remoteCommand: `${q(settings.remoteNode)} -e ${q(NODE_VERSION_CHECK)}`,
      done: 'connected, node',
      showOutput: true,
    },
    {
      name: 'prepare',
      title: `creating ${paths.agentDir}, ${paths.configDir} and ${paths.unitDir}`,
      remoteCommand: privileged(
        `mkdir -p ${[paths.agentDir, paths.configDir, paths.unitDir].map(q).join(' ')}`,
      ),
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
      remoteCommand: [settings.remoteNode, '-e', HEALTH_CHECK, url, String(settings.healthTimeoutSeconds)]
        .map(q)
        .join(' '),
      done: 'healthy',
    });
  }
  return steps;
}
