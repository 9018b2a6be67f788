// The real run: the plan's steps on one Pi, one ssh each, under the Pi's overall timeout; a step that
// could not connect is tried once more after a backoff. Many Pis at a time, at most `parallel`.
import path from 'node:path';
import { Backoff, errorMessage, sleep } from '../../lib/registry/index.ts';
import type { NodeArch } from '../node/versions.ts';
import type { DeployTarget } from './hosts.ts';
import { decideNode, nodeSteps, parseProbe, remotePaths, type Step, type StepName } from './plan.ts';
import { explainFailure, type Failure, type HostResult } from './report.ts';
import type { DeploySettings } from './settings.ts';
import { isConnectionFailure, lastLine, runSsh, sshArgv } from './ssh.ts';

export interface RunContext {
  settings: DeploySettings;
  /** Local folder with the bundle's three files. */
  bundleDir: string;
  sshBinary: string;
  /** Aborts every Pi at once (Ctrl-C). */
  signal: AbortSignal;
  progress: (line: string) => void;
  /** Delays between connection attempts; tests may shorten them. */
  backoff?: { initialMs: number; maxMs: number };
  /** The kit's Node.js build for an architecture (provision/node, memoized by main). */
  nodeBuild: (arch: NodeArch) => Promise<{ file: string; version: string; sha256: string }>;
}

/** Connection failures are tried this many times more, per step. */
const CONNECT_RETRIES = 1;

export async function deployHost(
  target: DeployTarget,
  steps: readonly Step[],
  ctx: RunContext,
): Promise<HostResult> {
  const started = Date.now();
  const { settings } = ctx;
  // Own controller and timer rather than AbortSignal.any(): Node 20 may collect a combined signal
  // (and its listeners) while ssh runs, and then the timeout never fires.
  const host = new AbortController();
  const stopHost = () => host.abort();
  const timer = setTimeout(stopHost, settings.hostTimeoutSeconds * 1000);
  ctx.signal.addEventListener('abort', stopHost, { once: true });
  try {
    return await runSteps(target, steps, ctx, host.signal, started);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', stopHost);
  }
}

async function runSteps(
  target: DeployTarget,
  steps: readonly Step[],
  ctx: RunContext,
  signal: AbortSignal,
  started: number,
): Promise<HostResult> {
  const { settings } = ctx;
  const done: StepName[] = [];
  const say = (text: string) => ctx.progress(`${target.label}: ${text}`);
  const result = (failure?: Failure): HostResult => ({
    target,
    ok: failure === undefined,
    ms: Date.now() - started,
    done,
    failure,
  });
  const queue = [...steps];
  for (let index = 0; index < queue.length; index++) {
    const step = queue[index]!;
    const argv = sshArgv(target, settings.connection, step.remoteCommand);
    const backoff = new Backoff({ initialMs: 1000, maxMs: 5000, ...ctx.backoff });
    for (let attempt = 1; ; attempt++) {
      const outcome = await runSsh(argv, {
        stdinFile:
          step.stdinName === undefined
            ? undefined
            : path.isAbsolute(step.stdinName)
              ? step.stdinName
              : path.join(ctx.bundleDir, step.stdinName),
        signal,
        sshBinary: ctx.sshBinary,
      });
      if (outcome.exitCode === 0 && !outcome.aborted && outcome.spawnError === undefined) {
        done.push(step.name);
        if (step.done) {
          const output = step.showOutput ? lastLine(outcome.stdout) : '';
          say(output ? `${step.done} ${output}` : step.done);
        }
        if (step.name === 'check') {
          // What the Pi has decides how it gets /opt/fleetkit/node/bin/node: kept, linked or installed.
          const action = decideNode(parseProbe(outcome.stdout));
          if (action.kind === 'keep')
            say(`node: kept ${remotePaths(settings.prefix).node} (${action.version})`);
          if (action.kind === 'impossible') {
            const failure = {
              step: 'node' as const,
              message: action.why,
              hint: 'install Node.js 20 or newer on it yourself, or use a Pi 3, 4, 5 or Zero 2 with 64-bit Raspberry Pi OS.',
            };
            say(`FAILED ${failure.message}`);
            return result(failure);
          }
          let build: Awaited<ReturnType<RunContext['nodeBuild']>> | undefined;
          if (action.kind === 'install') {
            try {
              build = await ctx.nodeBuild(action.arch);
            } catch (error) {
              const failure = {
                step: 'node' as const,
                message: `${action.why}, and this machine has no Node.js build for ${action.arch}: ${errorMessage(error)}`,
                hint:
                  (error as { hint?: string }).hint ??
                  'connect this machine to the internet once (it fetches the build with npm), then run it again.',
              };
              say(`FAILED ${failure.message}`);
              return result(failure);
            }
          }
          queue.splice(index + 1, 0, ...nodeSteps(settings, action, build));
        }
        break;
      }
      if (isConnectionFailure(outcome) && attempt <= CONNECT_RETRIES && !signal.aborted) {
        const delayMs = backoff.next();
        say(`cannot connect (${lastLine(outcome.stderr)}), trying again in ${(delayMs / 1000).toFixed(1)} s`);
        await sleep(delayMs, signal);
        if (!signal.aborted) continue;
      }
      const failure = explainFailure({
        step,
        outcome,
        attempts: attempt,
        target,
        settings,
        stopped: ctx.signal.aborted ? 'interrupted' : signal.aborted ? 'timeout' : undefined,
      });
      say(`FAILED ${failure.message}`);
      return result(failure);
    }
  }
  return result();
}

/** Runs `work` on every item, at most `limit` at a time; results in the items' order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
