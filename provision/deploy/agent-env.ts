// The agent env file the Pis get (/etc/fleetkit/agent.env): made for --control-host, or read from
// --env-file. Checked with the agent's own parser: what the agent would refuse on a Pi is refused here,
// before thirty Pis get it.
import { readFileSync } from 'node:fs';
import { parseAgentConfig } from '../../device/config.ts';
import { fileProblem } from '../../lib/cli/checks.ts';
import type { PackedCredentials } from '../../lib/cli/credentials-settings.ts';
import { isSettingsError, type RawSettings, type SettingIssue } from '../../lib/cli/settings.ts';
import { DEFAULT_PORTS, hostPort, hostSchema, type StoreKind } from '../../lib/registry/index.ts';
import { envWithCredentials } from '../flash/credentials.ts';

export interface AgentEnv {
  /** The env file's text, pushed as /etc/fleetkit/agent.env. */
  text: string;
  /** Where it came from, for the output: a file, or the control host. */
  origin: string;
  /** Where the agent answers on the Pi itself, from its FLEET_PORT and FLEET_LISTEN. */
  healthUrl: string;
  /** Settings that work but are rarely meant for several Pis (one device id for all). */
  warnings: readonly string[];
}

/** The env file for the Pis: made for --control-host, or read from --env-file; checked as the agent would. */
export function readAgentEnv(
  values: RawSettings,
  targetCount: number,
  issues: SettingIssue[],
  /** The credentials deploy copies: agent.env names where (under --prefix), and etcd goes https:// with a CA. */
  options: { credentials?: PackedCredentials | undefined; prefix?: string } = {},
): AgentEnv | undefined {
  const controlHost = values.controlHost as string | undefined;
  const file = values.agentEnvFile as string | undefined;
  if ((controlHost === undefined) === (file === undefined)) {
    issues.push({
      field: controlHost === undefined ? 'controlHost' : 'agentEnvFile',
      expected:
        controlHost === undefined
          ? 'where the stores are: --control-host ADDRESS, or --env-file FILE (an agent env file)'
          : 'either --control-host or --env-file, not both',
    });
    return undefined;
  }
  let text: string;
  let origin: string;
  if (controlHost !== undefined) {
    if (!hostSchema.safeParse(controlHost).success) {
      issues.push({
        field: 'controlHost',
        expected: `an IP address or a hostname, not ${JSON.stringify(controlHost)}`,
      });
      return undefined;
    }
    text = controlHostEnv(controlHost);
    origin = `made for control host ${controlHost}`;
  } else {
    try {
      text = readFileSync(file!, 'utf8');
    } catch (error) {
      issues.push({ field: 'agentEnvFile', expected: `a readable file (${file}: ${fileProblem(error)})` });
      return undefined;
    }
    origin = file!;
  }
  const { credentials } = options;
  // With credentials: the Pi's path in FLEET_CREDENTIALS (any given line replaced), checked here with the
  // local folder's (the agent then reads the same files on the Pi).
  const localCredentials = credentials ? ['--credentials', credentials.source] : [];
  if (credentials) text = envWithCredentials(text, credentials, options.prefix);
  let config: ReturnType<typeof parseAgentConfig>;
  try {
    // The agent's own parser: what it would refuse on the Pi is refused here.
    config = parseAgentConfig(
      // --credentials wins over a FLEET_CREDENTIALS line of the file, as a flag does.
      file !== undefined
        ? { argv: ['--env-file', file, ...localCredentials], env: {} }
        : { argv: localCredentials, env: withoutCredentialsLine(envLines(text), credentials) },
    );
  } catch (error) {
    if (!isSettingsError(error)) throw error;
    for (const issue of error.issues) {
      issues.push({ field: `agent env ${issue.field}`, expected: issue.expected });
    }
    return undefined;
  }
  if (config.help) return undefined;
  // Allowed (the second Pi with an id waits for the first: the agent handles conflicts), but rarely meant.
  const warnings: string[] = [];
  if (targetCount > 1 && config.config.deviceId !== undefined) {
    warnings.push(
      `${origin} sets FLEET_DEVICE_ID: every Pi gets the same id, and only one at a time is registered (leave it out: each Pi then uses its serial number)`,
    );
  }
  if (targetCount > 1 && config.config.host !== undefined) {
    warnings.push(
      `${origin} sets FLEET_HOST: every Pi advertises the same address (leave it out: each Pi finds its own)`,
    );
  }
  const listen = config.config.listen;
  const local = listen === '0.0.0.0' ? '127.0.0.1' : listen === '::' ? '::1' : listen;
  return { text, origin, healthUrl: `http://${hostPort(local, config.config.port)}/health`, warnings };
}

export function controlHostEnv(controlHost: string): string {
  const at = (kind: StoreKind) => hostPort(controlHost, DEFAULT_PORTS[kind]);
  return [
    `# Written by fleetkit deploy: the stores on the control host ${controlHost}.`,
    '# See agent.env.example (or node fleetkit-agent.mjs --help) for every setting.',
    `FLEET_ETCD=http://${at('etcd')}`,
    `FLEET_ZOOKEEPER=${at('zookeeper')}`,
    `FLEET_CONSUL=http://${at('consul')}`,
    '',
  ].join('\n');
}

/** The Pi's FLEET_CREDENTIALS is no path here: the local folder (--credentials) stands for it. */
function withoutCredentialsLine(
  env: Record<string, string>,
  credentials: PackedCredentials | undefined,
): Record<string, string> {
  if (!credentials) return env;
  const { FLEET_CREDENTIALS: _onPi, ...rest } = env;
  return rest;
}

function envLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z_][A-Z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!;
  return env;
}
