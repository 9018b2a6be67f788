// Settings of `fleetkit deploy`: flags, FLEET_DEPLOY_* variables and an optional settings file, read by
// lib/cli/settings.ts like every other command's, checked all at once (with the agent env file to
// push, agent-env.ts), then frozen.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fileProblem, numberSetting, wholeNumber } from '../../lib/cli/checks.ts';
import type { PackedCredentials } from '../../lib/cli/credentials-settings.ts';
import {
  type ParsedCommand,
  parseCommand,
  type RawSettings,
  type SettingIssue,
  type SettingSpec,
  type SettingsFile,
  type SettingsInput,
  switchValue,
} from '../../lib/cli/settings.ts';
import { toFieldIssues } from '../../lib/registry/index.ts';
import { packCredentialsSetting } from '../flash/credentials.ts';
import { parsePin } from '../node/versions.ts';
import { type AgentEnv, readAgentEnv } from './agent-env.ts';
import {
  ALLOWED_SSH_OPTIONS,
  type DeployTarget,
  HOST_FORMAT,
  hostsFileLines,
  parseHostSpec,
  parseSshOption,
} from './hosts.ts';
import type { SshConnection } from './ssh.ts';

export const DEFAULT_RESTART_COMMAND =
  'systemctl daemon-reload && systemctl enable fleetkit-agent && systemctl restart fleetkit-agent';

/** The settings file of the deploy itself (FLEET_DEPLOY_* lines); `--env-file` is the agent's. */
const SETTINGS_FILE: SettingsFile = {
  flag: 'settings-file',
  env: 'FLEET_DEPLOY_SETTINGS_FILE',
  help: 'read FLEET_DEPLOY_* settings from this file (KEY=value lines)',
};

export const DEPLOY_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'hosts',
    flag: 'host',
    env: 'FLEET_DEPLOY_HOSTS',
    help: `a Pi, ${HOST_FORMAT}; several`,
    list: true,
  },
  {
    key: 'hostsFile',
    flag: 'hosts-file',
    env: 'FLEET_DEPLOY_HOSTS_FILE',
    help: "a file of Pis, one a line, '#' comments",
  },
  {
    key: 'controlHost',
    flag: 'control-host',
    env: 'FLEET_DEPLOY_CONTROL_HOST',
    help: "the control host's address: the agent gets FLEET_ETCD/ZOOKEEPER/CONSUL pointing at it",
  },
  {
    key: 'agentEnvFile',
    flag: 'env-file',
    env: 'FLEET_DEPLOY_ENV_FILE',
    help: 'or: an agent env file (FLEET_* lines) to push as it is',
  },
  {
    key: 'credentials',
    flag: 'credentials',
    env: 'FLEET_CREDENTIALS',
    help: "the devices' credentials on the stores: <secure folder>/device/credentials.env (fleetkit stores --secure), copied to /etc/fleetkit/credentials/ (0700, files 0600, the agent's user) and named in agent.env",
    defaultText: 'none',
  },
  {
    key: 'identity',
    flag: 'identity',
    env: 'FLEET_DEPLOY_IDENTITY',
    help: 'ssh private key (ssh -i)',
    defaultText: "ssh's own: ~/.ssh/id_*, ssh-agent",
  },
  {
    key: 'sshOptions',
    flag: 'ssh-option',
    env: 'FLEET_DEPLOY_SSH_OPTIONS',
    help: `ssh -o Name=value, several; one of ${ALLOWED_SSH_OPTIONS.join(', ')}`,
    list: true,
  },
  {
    key: 'parallel',
    flag: 'parallel',
    env: 'FLEET_DEPLOY_PARALLEL',
    help: 'Pis deployed at the same time',
    defaultText: '8',
  },
  {
    key: 'prefix',
    flag: 'prefix',
    env: 'FLEET_DEPLOY_PREFIX',
    help: 'folder on the Pi that holds opt/fleetkit, etc/fleetkit, etc/systemd/system',
    defaultText: '/',
  },
  {
    key: 'restartCommand',
    flag: 'restart-command',
    env: 'FLEET_DEPLOY_RESTART_COMMAND',
    help: 'shell command run on the Pi after the copy',
    defaultText: DEFAULT_RESTART_COMMAND,
  },
  {
    key: 'sudo',
    flag: 'sudo',
    env: 'FLEET_DEPLOY_SUDO',
    help: 'run the remote commands with sudo -n (for a user with passwordless sudo)',
    switch: true,
  },
  {
    key: 'remoteNode',
    flag: 'remote-node',
    env: 'FLEET_DEPLOY_REMOTE_NODE',
    help: "the Pi's own node: linked as /opt/fleetkit/node/bin/node when it is 20 or newer (else the kit's build is installed there)",
    defaultText: 'node',
  },
  {
    key: 'nodeVersion',
    flag: 'node-version',
    env: 'FLEET_DEPLOY_NODE_VERSION',
    help: 'the Node.js build installed on a Pi without node 20+: a major (22) or exact version (22.11.0)',
    defaultText: 'the newest LTS line (arm64, x64), the newest armv7l build (32-bit)',
  },
  {
    key: 'healthTimeout',
    flag: 'health-timeout',
    env: 'FLEET_DEPLOY_HEALTH_TIMEOUT',
    help: 'seconds the agent has to answer on /health after the restart',
    defaultText: '30',
  },
  {
    key: 'skipHealth',
    flag: 'skip-health',
    env: 'FLEET_DEPLOY_SKIP_HEALTH',
    help: 'do not check /health',
    switch: true,
  },
  {
    key: 'timeout',
    flag: 'timeout',
    env: 'FLEET_DEPLOY_TIMEOUT',
    help: 'seconds after which a Pi counts as failed, whatever it was doing',
    defaultText: '180',
  },
  {
    key: 'dryRun',
    flag: 'dry-run',
    env: 'FLEET_DEPLOY_DRY_RUN',
    help: 'print every ssh command for every Pi, run none',
    switch: true,
  },
];

export interface DeploySettings {
  targets: readonly DeployTarget[];
  agentEnv: AgentEnv;
  /** The devices' credentials to copy (their files, checked), or undefined: none. */
  credentials?: PackedCredentials | undefined;
  connection: SshConnection;
  parallel: number;
  prefix: string;
  restartCommand: string;
  sudo: boolean;
  remoteNode: string;
  /** Pinned Node.js build for Pis without node 20+ (provision/node parsePin checked it). */
  nodeVersion: string | undefined;
  /** undefined: --skip-health. */
  healthTimeoutSeconds: number | undefined;
  hostTimeoutSeconds: number;
  dryRun: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f]/;

const schema = z.object({
  parallel: wholeNumber(1, 64, 'a whole number of Pis'),
  prefix: z
    .string()
    .refine((p) => path.posix.isAbsolute(p) && !CONTROL_RE.test(p) && !p.includes('\n'), 'an absolute path'),
  restartCommand: z
    .string()
    .min(1, 'a shell command')
    .max(4000, 'at most 4000 characters')
    .refine((c) => !CONTROL_RE.test(c), 'a shell command without control characters'),
  remoteNode: z
    .string()
    .regex(/^(node|\/[A-Za-z0-9_.+/-]+)$/, "'node' (found on the PATH) or an absolute path to node"),
  nodeVersion: z
    .string()
    .superRefine((text, ctx) => {
      const pin = parsePin(text);
      if ('problem' in pin) ctx.addIssue({ code: 'custom', message: pin.problem });
    })
    .optional(),
  healthTimeout: wholeNumber(1, 600, 'whole seconds'),
  timeout: wholeNumber(10, 3600, 'whole seconds'),
  sudo: z.boolean(),
  skipHealth: z.boolean(),
  dryRun: z.boolean(),
});

export type ParsedDeployArgs = ParsedCommand<DeploySettings>;

const ABOUT = {
  usage:
    'Usage: fleetkit deploy --host pi@pi-1.local --host pi@pi-2.local --control-host 192.168.4.1 [settings]',
  description:
    "Builds the agent, copies it with its env file and systemd unit to each Pi over ssh (in parallel),\ngives the Pi /opt/fleetkit/node (its own node 20+ linked, else the kit's official build from .cache/node),\nrestarts the agent and checks that it answers. --dry-run prints every ssh command instead. See docs/deploy.md.",
  settingsFile: SETTINGS_FILE,
};

/** Throws a SettingsError naming every bad setting by its flag and variable. */
export function parseDeploySettings(input: SettingsInput): ParsedDeployArgs {
  return parseCommand(
    DEPLOY_SETTINGS,
    input,
    ABOUT,
    (values, issues, { sources }): DeploySettings | undefined => {
      // Switches (lib/cli/settings.ts): the flag alone, or the variable as true/false.
      const switches = Object.fromEntries(
        DEPLOY_SETTINGS.filter((spec) => spec.switch).map((spec) => {
          const value = switchValue(values[spec.key]);
          if (value === undefined) {
            issues.push({
              field: spec.key,
              expected: `true or false (or the flag alone), not ${JSON.stringify(values[spec.key])}`,
            });
          }
          return [spec.key, value ?? false];
        }),
      );
      const parsed = schema.safeParse({
        parallel: numberSetting(values.parallel) ?? 8,
        prefix: values.prefix ?? '/',
        restartCommand: values.restartCommand ?? DEFAULT_RESTART_COMMAND,
        remoteNode: values.remoteNode ?? 'node',
        nodeVersion: values.nodeVersion,
        healthTimeout: numberSetting(values.healthTimeout) ?? 30,
        timeout: numberSetting(values.timeout) ?? 180,
        ...switches,
      });
      if (!parsed.success) issues.push(...toFieldIssues(parsed.error));

      const targets = readTargets(values, issues);
      const sshOptions: string[] = [];
      for (const text of (values.sshOptions as string[] | undefined) ?? []) {
        const result = parseSshOption(text);
        if ('problem' in result) issues.push({ field: 'sshOptions', expected: result.problem });
        else sshOptions.push(result.option);
      }
      const identityFile = checkIdentity(values.identity as string | undefined, issues);
      const credentialsFile = values.credentials as string | undefined;
      const credentials = packCredentialsSetting(credentialsFile, sources, issues);
      const prefix = parsed.success ? path.posix.normalize(parsed.data.prefix) : '/';
      const agentEnv = readAgentEnv(values, targets.length, issues, { credentials, prefix });
      if (credentialsFile && !credentials) return undefined;
      if (!parsed.success || !agentEnv) return undefined;
      const p = parsed.data;
      return {
        targets: Object.freeze(targets),
        agentEnv,
        credentials,
        connection: Object.freeze({ identityFile, options: Object.freeze(sshOptions) }),
        parallel: p.parallel,
        prefix: path.posix.normalize(p.prefix),
        restartCommand: p.restartCommand,
        sudo: p.sudo,
        remoteNode: p.remoteNode,
        nodeVersion: p.nodeVersion,
        healthTimeoutSeconds: p.skipHealth ? undefined : p.healthTimeout,
        hostTimeoutSeconds: p.timeout,
        dryRun: p.dryRun,
      };
    },
  );
}

function readTargets(values: RawSettings, issues: SettingIssue[]): DeployTarget[] {
  const given: { spec: string; field: string }[] = ((values.hosts as string[] | undefined) ?? []).map(
    (spec) => ({ spec, field: 'hosts' }),
  );
  const file = values.hostsFile as string | undefined;
  if (file !== undefined) {
    try {
      for (const { line, spec } of hostsFileLines(readFileSync(file, 'utf8'))) {
        given.push({ spec, field: `${file}:${line}` });
      }
    } catch (error) {
      issues.push({ field: 'hostsFile', expected: `a readable file (${file}: ${fileProblem(error)})` });
    }
  }
  const targets: DeployTarget[] = [];
  for (const { spec, field } of given) {
    const target = parseHostSpec(spec);
    if (typeof target === 'string') issues.push({ field, expected: target });
    else if (targets.some((t) => t.host === target.host && t.port === target.port))
      issues.push({ field, expected: `each Pi once: ${JSON.stringify(spec)} is there twice` });
    else targets.push(target);
  }
  if (given.length === 0 && file === undefined) {
    issues.push({ field: 'hosts', expected: 'at least one Pi: --host or --hosts-file' });
  } else if (given.length === 0 && !issues.some((i) => i.field === 'hostsFile')) {
    issues.push({ field: 'hostsFile', expected: `at least one Pi in ${file} (it has none)` });
  }
  return targets;
}

function checkIdentity(file: string | undefined, issues: SettingIssue[]): string | undefined {
  if (file === undefined) return undefined;
  try {
    accessSync(file, constants.R_OK);
    if (statSync(file).mode & 0o077) {
      issues.push({
        field: 'identity',
        expected: `a private key only its owner can read: ssh refuses ${file} as it is (chmod 600 ${file})`,
      });
    }
    return path.resolve(file);
  } catch (error) {
    issues.push({
      field: 'identity',
      expected: `a readable private key file (${file}: ${fileProblem(error)})`,
    });
    return undefined;
  }
}
