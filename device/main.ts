// `fleetkit agent`: thin entry point. Exit codes: 0 after --help, 2 for bad settings, 1 when it cannot
// start, 143 after SIGTERM and 130 after SIGINT (having deregistered everywhere).
import { parseEndpoints } from '../registry/endpoints.ts';
import { isValidationError } from '../registry/errors.ts';
import { createLogger } from '../registry/log.ts';
import type { StoreKind } from '../registry/types.ts';
import { Agent } from './agent.ts';
import { parseAgentConfig } from './config.ts';
import { createDeviceServer, listen } from './http/server.ts';
import { findAdvertisedHost, findDeviceId } from './identity.ts';
import { deviceLabels } from './labels.ts';
import { AGENT_VERSION } from './version.ts';

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  let parsed: ReturnType<typeof parseAgentConfig>;
  try {
    parsed = parseAgentConfig({ argv, env });
  } catch (error) {
    if (!isValidationError(error)) throw error;
    const lines = error.issues.map((i) => `  ${i.field}: ${i.expected}`).join('\n');
    console.error(
      `fleetkit agent: bad settings, nothing started:\n${lines}\nRun \`fleetkit agent --help\` for every setting.`,
    );
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(parsed.text);
    return 0;
  }
  const config = parsed.config;
  const log = createLogger('agent', config.logLevel);
  let agent: Agent;
  let server: Awaited<ReturnType<typeof listen>>;
  try {
    const endpoints = (Object.entries(config.stores) as [StoreKind, string[]][]).flatMap(([store, list]) =>
      parseEndpoints(store, list),
    );
    const [id, host, labels] = await Promise.all([
      config.deviceId ? { id: config.deviceId, source: 'FLEET_DEVICE_ID' } : findDeviceId(),
      config.host ?? findAdvertisedHost(endpoints),
      deviceLabels(AGENT_VERSION, config.labels),
    ]);
    log.info(
      { id: id.id, idSource: id.source, host },
      `device ${id.id} (from ${id.source}) advertised as ${host}:${config.port}`,
    );
    agent = new Agent(config, { id: id.id, host, labels, version: AGENT_VERSION }, log);
    server = await listen(createDeviceServer(agent), config.port, config.listen);
    await agent.start();
  } catch (error) {
    log.error(`fleetkit agent cannot start: ${(error as Error).message}`);
    return 1;
  }
  log.info(`serving http://${config.listen}:${config.port}/ (/health, /status)`);

  const shutdown = async (signal: NodeJS.Signals, code: number) => {
    log.info(`${signal}: deregistering everywhere`);
    await agent.stop();
    server.closeAllConnections();
    server.close();
    process.exit(code);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM', 143));
  process.once('SIGINT', () => void shutdown('SIGINT', 130));
  return undefined; // keeps running
}
