// What the systemd unit says, read from device/fleetkit-agent.service (the one source): the node flags
// it runs the agent with (simulated devices and measurements run the agent the same way as a Pi does)
// and where on the Pi it expects the agent, its settings and its Node.js (flash and deploy put them there),
// the user it runs as, and the udev rule that lets that user drive the activity LED.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { shellWord as q } from '../lib/cli/shell-quote.ts';

const readUnit = () => readFileSync(new URL('./fleetkit-agent.service', import.meta.url), 'utf8');

/** Absolute paths on the Pi. */
export interface InstallPaths {
  /** The folder of the agent bundle, and the bundle itself. */
  agentDir: string;
  agent: string;
  /** The folder of the settings file, and the file. */
  configDir: string;
  env: string;
  /** Where systemd units go, and the unit's own name. */
  unitDir: string;
  unitName: string;
  /** The kit's Node.js: the folder (an official build's bin/node inside) and the binary ExecStart runs. */
  nodeDir: string;
  node: string;
}

/** ExecStart= split into words: the node binary, its flags, the bundle. */
function execStart(unit: string): { node: string; flags: string[]; agent: string } | undefined {
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.trim();
  const words = line?.split(/\s+/) ?? [];
  const node = words[0];
  const agent = words.at(-1);
  if (!node?.startsWith('/') || !agent?.endsWith('.mjs') || words.length < 2) return undefined;
  return { node, flags: words.slice(1, -1).filter((word) => word.startsWith('--')), agent };
}

export function installPaths(): InstallPaths {
  const unit = readUnit();
  const exec = execStart(unit);
  const env = /^EnvironmentFile=-?(\/\S+)\s*$/m.exec(unit)?.[1];
  if (!exec || !env || !exec.node.endsWith('/bin/node')) {
    throw new Error(
      'device/fleetkit-agent.service: expected ExecStart=/absolute/path/bin/node [flags] /path/agent.mjs and EnvironmentFile=',
    );
  }
  const agent = exec.agent;
  return {
    agentDir: path.posix.dirname(agent),
    agent,
    configDir: path.posix.dirname(env),
    env,
    unitDir: '/etc/systemd/system',
    unitName: 'fleetkit-agent.service',
    nodeDir: path.posix.dirname(path.posix.dirname(exec.node)),
    node: exec.node,
  };
}

export function unitNodeFlags(): string[] {
  return execStart(readUnit())?.flags ?? [];
}

/** The user (and group) the unit runs the agent as: its User=. */
export function agentAccount(): string {
  const user = /^User=([a-z_][a-z0-9_-]*)\s*$/m.exec(readUnit())?.[1];
  if (!user) throw new Error('device/fleetkit-agent.service: expected User= (the agent never runs as root)');
  return user;
}

/** Where the LED's udev rule goes on the Pi. */
export const LED_RULES_FILE = '/etc/udev/rules.d/99-fleetkit-led.rules';

/**
 * The udev rule that lets the agent's group drive the activity LED (device/led.ts): ACT (Raspberry Pi
 * OS) or led0 (older kernels), its `trigger` and `brightness`, and the timer trigger's `delay_on` /
 * `delay_off`, which the kernel makes anew each time that trigger is set (it then sends a change
 * event, when the rule runs again). No other LED, no other file.
 */
export function ledRules(group = agentAccount()): string {
  return `# fleetkit: the agent (group ${group}) drives the activity LED; written by the kit with its unit.
SUBSYSTEM=="leds", KERNEL=="ACT|led0", ACTION=="add|change", RUN+="/bin/sh -c 'cd /sys%p && for f in trigger brightness delay_on delay_off; do if [ -e $$f ]; then chgrp ${group} $$f && chmod g+w $$f; fi; done; true'"
`;
}

/**
 * Shell (POSIX sh, as root, on the Pi) that gives the agent its account and the LED its rule: the
 * system user and group (no home, no login), the rule file, and udev told at once where it runs.
 * Safe to run again. `prefix` puts the rule under another root (deploy's --prefix).
 */
export function agentAccountShell(prefix = '/'): string {
  const user = agentAccount();
  const rules = q(path.posix.join(prefix, LED_RULES_FILE));
  const fresh = q(`${path.posix.join(prefix, LED_RULES_FILE)}.fleetkit-new`);
  return `# The agent's own user (never root); the LED through a udev rule for its group.
if ! id ${user} >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \\
    --comment 'fleetkit device agent' ${user}
fi
install -d -m 755 ${q(path.posix.dirname(path.posix.join(prefix, LED_RULES_FILE)))}
cat >${fresh} <<'FLEETKIT_LED_RULES'
${ledRules(user).trimEnd()}
FLEETKIT_LED_RULES
chmod 644 ${fresh} && mv -f ${fresh} ${rules}
if [ -d /run/systemd/system ] && command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload && udevadm trigger --subsystem-match=leds --action=change || true
fi
`;
}
