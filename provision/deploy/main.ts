// `fleetkit deploy`: build the agent, push it with its env file and unit to every Pi over ssh, restart
// it, check it answers. Exit codes: 0 every Pi deployed, 1 some Pi failed (the summary says which, why
// and what to do) or the deploy could not start, 2 bad settings (every one named), 130 after Ctrl-C.

import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildAgent } from '../../device/build.ts';
import { isEntryPoint } from '../../lib/cli/entry-point.ts';
import { configOrExit } from '../../lib/cli/settings.ts';
import { errorMessage } from '../../lib/registry/index.ts';
import { isProvisionError } from '../apt.ts';
import { type NodeArch, type NodeBuild, nodeBuild } from '../node/index.ts';
import { MIN_NODE_MAJOR } from '../node/versions.ts';
import { BUNDLE, planSteps, remotePaths, type Step } from './plan.ts';
import { summary } from './report.ts';
import { deployHost, mapLimited } from './run.ts';
import { type DeploySettings, parseDeploySettings } from './settings.ts';
import { renderCommand, sshArgv } from './ssh.ts';
import { ensureSshClient } from './tools.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const settings = configOrExit('deploy', () => parseDeploySettings({ argv, env }), {
    untouched: 'nothing done',
  });
  if (typeof settings === 'number') return settings;
  for (const warning of settings.agentEnv.warnings) console.warn(`fleetkit deploy: warning: ${warning}`);
  const steps = planSteps(settings);
  if (settings.dryRun) {
    printDryRun(settings, steps);
    return 0;
  }

  let sshBinary: string;
  try {
    sshBinary = await ensureSshClient(say);
  } catch (error) {
    if (!isProvisionError(error)) throw error;
    console.error(`fleetkit deploy: no ssh client: ${error.message}\nwhat to do: ${error.hint}`);
    return 1;
  }
  const bundleDir = await mkdtemp(path.join(tmpdir(), 'fleetkit-deploy-'));
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    const started = Date.now();
    say('building the agent bundle...');
    try {
      const { bytes } = await buildAgent(bundleDir);
      await writeFile(path.join(bundleDir, BUNDLE.env), settings.agentEnv.text, { mode: 0o600 });
      if (settings.credentials) {
        const folder = path.join(bundleDir, BUNDLE.credentials);
        await mkdir(folder, { mode: 0o700 });
        for (const file of settings.credentials.files)
          await writeFile(path.join(folder, file.name), file.data, { mode: 0o600 });
        say(`credentials: ${settings.credentials.summary} (from ${settings.credentials.source})`);
      }
      const total = bytes + (await stat(path.join(bundleDir, BUNDLE.unit))).size;
      say(
        `built the agent (${(total / 1024).toFixed(0)} KB) in ${Date.now() - started} ms; settings ${settings.agentEnv.origin}`,
      );
    } catch (error) {
      console.error(
        `fleetkit deploy: could not build the agent: ${errorMessage(error)}\nwhat to do: run \`npm install\`, then \`npm run build:agent\` to see the whole error.`,
      );
      return 1;
    }
    const count = settings.targets.length;
    say(
      `deploying to ${count} ${count === 1 ? 'Pi' : 'Pis'}, ${Math.min(count, settings.parallel)} at a time, into ${settings.prefix}`,
    );
    // One build per architecture for the whole run, fetched into .cache/node the first time only.
    const builds = new Map<NodeArch, Promise<NodeBuild>>();
    const build = (arch: NodeArch) => {
      let found = builds.get(arch);
      if (!found) {
        found = nodeBuild(arch, { version: settings.nodeVersion, log: say });
        builds.set(arch, found);
      }
      return found;
    };
    const results = await mapLimited(settings.targets, settings.parallel, (target) =>
      deployHost(target, steps, {
        settings,
        bundleDir,
        sshBinary,
        signal: interrupt.signal,
        progress: say,
        nodeBuild: build,
      }),
    );
    const { table, failures } = summary(results, settings);
    say(`\n${table}`);
    if (failures) console.error(`\n${failures}`);
    if (interrupt.signal.aborted) return 130;
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
    await rm(bundleDir, { recursive: true, force: true });
  }
}

/** Every ssh command of every Pi, ready to paste; nothing is built, copied or run. */
function printDryRun(settings: DeploySettings, steps: readonly Step[]): void {
  const paths = remotePaths(settings.prefix);
  say('dry run: nothing is built, copied or run. The copies read the bundle folder $FLEETKIT_BUNDLE:');
  say('fleetkit-agent.mjs and fleetkit-agent.service from `npm run build:agent` (it writes dist/), and');
  say(`agent.env with this text (${settings.agentEnv.origin}), installed as ${paths.env}:`);
  for (const line of settings.agentEnv.text.trimEnd().split('\n')) say(`  | ${line}`);
  if (settings.credentials)
    say(
      `and credentials/ with ${settings.credentials.files.map((f) => f.name).join(', ')}: the files of ${settings.credentials.source}, its credentials.env naming them by these names (not shown: secrets)`,
    );
  for (const target of settings.targets) {
    say(`\n${target.label}:`);
    for (const step of steps) {
      say(`  # ${step.title}`);
      const argv = sshArgv(target, settings.connection, step.remoteCommand);
      say(`  ${renderCommand(argv, step.stdinName && `"$FLEETKIT_BUNDLE"/${step.stdinName}`)}`);
      if (step.name === 'check') {
        say(
          `  # then, by what it answers: its ${paths.node} kept when it runs and is ${MIN_NODE_MAJOR}+; else its own`,
        );
        say(
          `  # node linked there when ${MIN_NODE_MAJOR}+; else the build for its architecture copied from .cache/node`,
        );
        say(
          `  # (npm pack node-linux-<arch>), its sha256 checked on the Pi, and unpacked into ${paths.nodeDir}`,
        );
      }
    }
  }
}

if (isEntryPoint(import.meta.url)) {
  const code = await main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}
