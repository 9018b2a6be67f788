// What the systemd unit says, read from device/fleetkit-agent.service (the one source): the node flags
// it runs the agent with (simulated devices and measurements run the agent the same way as a Pi does)
// and where on the Pi it expects the agent and its settings (flash and deploy put them there).
import { readFileSync } from 'node:fs';
import path from 'node:path';

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
}

export function installPaths(): InstallPaths {
  const unit = readUnit();
  const agent = /^ExecStart=.*?(\/\S+\.mjs)\s*$/m.exec(unit)?.[1];
  const env = /^EnvironmentFile=-?(\/\S+)\s*$/m.exec(unit)?.[1];
  if (!agent || !env)
    throw new Error('device/fleetkit-agent.service: no ExecStart=... *.mjs or EnvironmentFile=');
  return {
    agentDir: path.posix.dirname(agent),
    agent,
    configDir: path.posix.dirname(env),
    env,
    unitDir: '/etc/systemd/system',
    unitName: 'fleetkit-agent.service',
  };
}

export function unitNodeFlags(): string[] {
  const unit = readUnit();
  const execStart = /^ExecStart=.*?\bnode\b(.*?)\S+\.mjs\s*$/m.exec(unit)?.[1] ?? '';
  return execStart.split(/\s+/).filter((arg) => arg.startsWith('--'));
}
