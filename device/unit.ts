// What the systemd unit says, read from device/fleetkit-agent.service (the one source): the node flags
// it runs the agent with (simulated devices and measurements run the agent the same way as a Pi does)
// and where on the Pi it expects the agent, its settings and its Node.js (flash and deploy put them there).
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
