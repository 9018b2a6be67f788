// The node flags the systemd unit runs the agent with (device/fleetkit-agent.service is the one
// source): simulated devices and measurements run the agent the same way as a Pi does.
import { readFileSync } from 'node:fs';

export function unitNodeFlags(): string[] {
  const unit = readFileSync(new URL('./fleetkit-agent.service', import.meta.url), 'utf8');
  const execStart = /^ExecStart=.*?\bnode\b(.*?)\S+\.mjs\s*$/m.exec(unit)?.[1] ?? '';
  return execStart.split(/\s+/).filter((arg) => arg.startsWith('--'));
}
