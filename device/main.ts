// `fleetkit agent`: thin entry point. Exit codes: 0 after --help, 2 for bad settings, 1 when it cannot
// start (or after uncaught errors in a loop: lib/cli/crash-policy.ts), 143 after SIGTERM and 130 after
// SIGINT (having deregistered everywhere).
import { installCrashPolicy } from '../lib/cli/crash-policy.ts';
import { createLogger } from '../lib/cli/log.ts';
import { configOrExit } from '../lib/cli/settings.ts';
import { onShutdown } from '../lib/cli/shutdown.ts';
import type { StoreKind } from '../lib/registry/index.ts';
import { errorMessage, parseEndpoints } from '../lib/registry/index.ts';
import { Agent } from './agent.ts';
import { parseAgentConfig } from './config.ts';
import { createDeviceServer, listen } from './http/server.ts';
import { findDeviceId } from './identity.ts';
import { deviceLabels } from './labels.ts';
import { ActivityLed } from './led.ts';
import { AddressWatch } from './network.ts';
import { answerStressMessages } from './stress-message.ts';
import { AGENT_VERSION } from './version.ts';

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const config = configOrExit('agent', () => parseAgentConfig({ argv, env }));
  if (typeof config === 'number') return config;
  const log = createLogger('agent', config.logLevel);
  const crashPolicy = installCrashPolicy({ command: 'agent', log });
  let agent: Agent;
  let server: Awaited<ReturnType<typeof listen>>;
  try {
    const endpoints = (Object.entries(config.stores) as [StoreKind, string[]][]).flatMap(([store, list]) =>
      parseEndpoints(store, list),
    );
    const [id, labels] = await Promise.all([
      config.deviceId ? { id: config.deviceId, source: 'FLEET_DEVICE_ID' } : findDeviceId(),
      deviceLabels(AGENT_VERSION, config.labels),
    ]);
    // No route to the stores (no network yet) is no reason to stop: the agent serves its page, says
    // so, and registers once a route appears (network.ts); systemd restarting it would change nothing.
    const network = new AddressWatch(endpoints, {
      pinned: config.host,
      intervalMs: config.addressCheckSeconds * 1000,
    });
    const led = new ActivityLed(config.ledRoot);
    agent = new Agent(config, { id: id.id, host: config.host ?? null, labels, version: AGENT_VERSION }, log, {
      network,
      led,
    });
    server = await listen(createDeviceServer(agent), config.port, config.listen);
    await agent.start();
    const { host } = agent.status();
    log.info(
      { id: id.id, idSource: id.source, host, credentials: config.credentialsSummary ?? 'none' },
      `device ${id.id} (from ${id.source}) advertised as ${host ?? '(no route yet)'}:${config.port}; credentials: ${config.credentialsSummary ?? 'none'}`,
    );
  } catch (error) {
    log.error(`fleetkit agent cannot start: ${errorMessage(error)}`);
    return 1;
  }
  log.info(`serving http://${config.listen}:${config.port}/ (/health, /status)`);
  // Started by a parent with an IPC channel (the simulated fleet, `join`): it may tell a load to carry.
  if (answerStressMessages(agent.stress)) log.info('listening for stress messages on the IPC channel');
  // A parent gone (a `join` or a simulated fleet killed with SIGKILL) must not leave its devices
  // running forever: its channel closes, and the agent stops as after SIGTERM (deregistering).
  process.once('disconnect', () => {
    log.warn('the process that started this agent is gone: stopping');
    process.kill(process.pid, 'SIGTERM');
  });
  crashPolicy.started();

  onShutdown(async (signal) => {
    log.info(`${signal}: deregistering everywhere`);
    await agent.stop();
    server.closeAllConnections();
    server.close();
  });
  return undefined; // keeps running
}
