// What went wrong on a Pi, in words, with what to do about it; and the summary table at the end.
import type { DeployTarget } from './hosts.ts';
import type { Step, StepName } from './plan.ts';
import type { DeploySettings } from './settings.ts';
import { lastLine, type SshResult } from './ssh.ts';

/** What deploying to one Pi came to (run.ts makes it, this file says it). */
export interface HostResult {
  target: DeployTarget;
  ok: boolean;
  ms: number;
  /** The steps that succeeded, in order. */
  done: StepName[];
  failure: Failure | undefined;
}

export interface Failure {
  step: Step['name'];
  message: string;
  hint: string;
}

export interface FailureInput {
  step: Step;
  outcome: SshResult;
  attempts: number;
  target: DeployTarget;
  settings: DeploySettings;
  /** Why the run stopped before ssh ended by itself. */
  stopped: 'timeout' | 'interrupted' | undefined;
}

/** A command to try by hand against this Pi. */
function sshByHand(target: DeployTarget, settings: DeploySettings, command: string): string {
  const port = target.port === undefined ? '' : ` -p ${target.port}`;
  const identity = settings.connection.identityFile ? ` -i ${settings.connection.identityFile}` : '';
  const destination = target.user ? `${target.user}@${target.host}` : target.host;
  return `ssh${port}${identity} ${destination} ${command}`;
}

export function explainFailure(input: FailureInput): Failure {
  const { step, outcome, attempts, target, settings } = input;
  const fail = (message: string, hint: string): Failure => ({ step: step.name, message, hint });
  const detail = lastLine(outcome.stderr) || lastLine(outcome.stdout);
  const who = target.user ?? 'your user';

  if (input.stopped === 'interrupted') return fail(`interrupted while ${step.title}`, 'run it again.');
  if (input.stopped === 'timeout') {
    return fail(
      `gave up after ${settings.hostTimeoutSeconds} s (--timeout) while ${step.title}`,
      'the Pi or the network is slow or stuck: run it again, or give it longer with --timeout.',
    );
  }
  if (outcome.spawnError) {
    return fail(
      `could not run ssh: ${outcome.spawnError.message}`,
      'install the ssh client (apt-get install openssh-client), then run it again.',
    );
  }
  if (outcome.exitCode === 255) {
    const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
    if (/permission denied \(/i.test(detail)) {
      const key = settings.connection.identityFile ? `-i ${settings.connection.identityFile}.pub ` : '';
      return fail(
        `the Pi refused the ssh key: ${detail}`,
        `put your public key on it once: ssh-copy-id ${key}${target.port ? `-p ${target.port} ` : ''}${target.user ? `${target.user}@` : ''}${target.host} (see docs/deploy.md).`,
      );
    }
    if (/host key verification failed|remote host identification has changed/i.test(outcome.stderr)) {
      return fail(
        `its ssh host key is unknown or changed: ${detail}`,
        `a re-flashed card has a new key: ssh-keygen -R ${target.host}, then connect once by hand (or --ssh-option StrictHostKeyChecking=accept-new).`,
      );
    }
    if (/could not resolve hostname/i.test(detail)) {
      return fail(
        `cannot connect: ${detail}${tries}`,
        `this machine cannot resolve ${target.host} (.local names need mDNS, which conference Wi-Fi often blocks): use the Pi's IP address.`,
      );
    }
    return fail(
      `cannot connect: ${detail || 'ssh failed'}${tries}`,
      `check that the Pi is on, on this network, and runs sshd: ${sshByHand(target, settings, 'true')}`,
    );
  }
  if (settings.sudo && /sudo: (a password is required|a terminal is required)/.test(outcome.stderr)) {
    return fail(
      `sudo on the Pi asks ${who} for a password`,
      `give ${who} passwordless sudo (docs/deploy.md), or deploy as root without --sudo.`,
    );
  }
  if (outcome.exitCode === 127 && (step.name === 'check' || step.name === 'health')) {
    return fail(
      `no Node.js on the Pi: ${detail}`,
      `install Node.js 20 or newer on the Pi (docs/deploy.md), or name it with --remote-node /path/to/node.`,
    );
  }
  switch (step.name) {
    case 'check':
      return fail(
        detail || `${settings.remoteNode} failed (exit ${outcome.exitCode})`,
        'install Node.js 20 or newer on the Pi (docs/deploy.md).',
      );
    case 'node':
      return fail(
        `failed while ${step.title}: ${detail || `exit ${outcome.exitCode}`}`,
        /permission denied|read-only|operation not permitted/i.test(detail)
          ? `${who} may not write there: deploy as root (root@host) or add --sudo.`
          : /FAILED|checksum/i.test(outcome.stderr + outcome.stdout)
            ? 'the copy arrived damaged: run it again.'
            : `look on the Pi: ${sshByHand(target, settings, `'df -h ${settings.prefix}'`)}`,
      );
    case 'prepare':
    case 'copy':
      return fail(
        `failed while ${step.title}: ${detail || `exit ${outcome.exitCode}`}`,
        /permission denied|read-only|operation not permitted/i.test(detail)
          ? `${who} may not write there: deploy as root (root@host) or add --sudo.`
          : `look on the Pi: ${sshByHand(target, settings, `'df -h ${settings.prefix}'`)}`,
      );
    case 'restart':
      return fail(
        `the restart command failed (exit ${outcome.exitCode}): ${detail || 'no message'}`,
        `run it on the Pi to see why (${settings.restartCommand}); the agent's log: journalctl -u fleetkit-agent -n 50.`,
      );
    case 'health':
      return fail(
        detail || `the agent did not answer on ${settings.agentEnv.healthUrl}`,
        `the agent did not come up: see its log on the Pi (journalctl -u fleetkit-agent -n 50) and check the FLEET_* settings in ${settings.agentEnv.origin}.`,
      );
  }
}

/** The table at the end, and for each failed Pi what happened and what to do. */
export function summary(
  results: readonly HostResult[],
  settings: DeploySettings,
): { table: string; failures: string } {
  const checked = settings.healthTimeoutSeconds !== undefined;
  const rows = results.map((r) => [
    r.target.label,
    r.ok ? (checked ? 'healthy' : 'restarted') : 'FAILED',
    `${(r.ms / 1000).toFixed(1)} s`,
    r.ok
      ? checked
        ? `answers on ${settings.agentEnv.healthUrl}`
        : 'health not checked'
      : `${r.failure?.step}: ${r.failure?.message}`,
  ]);
  const header = ['host', 'result', 'time', 'detail'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const failed = results.filter((r) => !r.ok);
  const ok = results.length - failed.length;
  const table = [
    line(header),
    ...rows.map(line),
    '',
    failed.length === 0
      ? `all ${results.length} ${results.length === 1 ? 'Pi' : 'Pis'} deployed and ${checked ? 'healthy' : 'restarted'}`
      : `${ok} of ${results.length} deployed; failed: ${failed.map((r) => r.target.label).join(', ')}`,
  ].join('\n');
  const failures = failed
    .map((r) => `${r.target.label}: ${r.failure?.message}\n  what to do: ${r.failure?.hint}`)
    .join('\n');
  return { table, failures };
}
