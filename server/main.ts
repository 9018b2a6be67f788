// `fleetkit server`: the control host's live page. Exit codes: 2 bad settings, 1 cannot start (or
// uncaught errors in a loop: lib/cli/crash-policy.ts), 143 after SIGTERM, 130 after SIGINT.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { installCrashPolicy } from '../lib/cli/crash-policy.ts';
import { createLogger } from '../lib/cli/log.ts';
import { configOrExit } from '../lib/cli/settings.ts';
import { onShutdown } from '../lib/cli/shutdown.ts';
import { errorMessage } from '../lib/registry/index.ts';
import { Audience, linkAudience } from './audience/audience.ts';
import { JOIN_PATH } from './audience-contract.ts';
import { parseServerConfig } from './config.ts';
import { Fleet } from './fleet/fleet.ts';
import { openTimelineFile } from './fleet/timeline-file.ts';
import { createServerApp } from './http/app.ts';
import { attachAudienceSockets } from './http/audience-sockets.ts';
import { PresenterToken, presenterUrlOf } from './http/presenter-token.ts';
import { attachSockets } from './http/sockets.ts';
import { lanAddress } from './lan-address.ts';
import { buildPage, buildPhonePage } from './page/build.ts';
import { SimulationLink } from './simulation.ts';
import { StoreControlLink } from './store-control.ts';

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const config = configOrExit('server', () => parseServerConfig({ argv, env }));
  if (typeof config === 'number') return config;
  const log = createLogger('server', config.logLevel);
  const crashPolicy = installCrashPolicy({ command: 'server', log });
  const audienceUrl =
    config.publicUrl ??
    `http://${config.listen === '0.0.0.0' ? lanAddress() : config.listen}:${config.port}/`;
  const presenterUrl = presenterUrlOf(audienceUrl, config.token);
  const token = new PresenterToken(config.token);
  // Warn: the demo shows the server's warnings only, and this line is the only way to the new URL.
  const rotated = (fresh: string) =>
    log.warn(
      `presenter token rotated from the page: the old presenter URL is read-only now; the new one: ${presenterUrlOf(audienceUrl, fresh)}`,
    );
  // The timeline of the runs before this one (its file is read line by line; garbage is skipped).
  let fleet: Fleet | undefined;
  const saved = await openTimelineFile(config, log, () => fleet?.timelineEntries() ?? []);
  fleet = new Fleet(config, log, saved);
  const simulation = config.simControl
    ? new SimulationLink(config.simControl, config.simControlSecret ?? '', fleet, log)
    : undefined;
  const storeControl = config.storeControl
    ? new StoreControlLink(config.storeControl.url, config.storeControl.secret, fleet, log)
    : undefined;
  // The audience's phones as devices (--audience-devices): registered by this server while they beat.
  const audience = config.audienceDevices ? new Audience(config, log) : undefined;
  if (audience) linkAudience(fleet, audience);
  const http = createServer();
  try {
    // With --classroom the attendee kit is built once, now, beside the page (a few seconds).
    const [assets, bundle, phoneScript] = await Promise.all([
      buildPage(),
      config.classroom ? import('../device/kit/build.ts').then((kit) => kit.buildKit()) : null,
      config.audienceDevices ? buildPhonePage() : null,
    ]);
    const timeline = {
      entries: () => fleet.timelineEntries(),
      scope: `${config.namespace}-${config.service}`,
    };
    http.on(
      'request',
      await createServerApp(assets, audienceUrl, { config, bundle, audienceUrl }, timeline, phoneScript),
    );
    const io = attachSockets(http, fleet, { token, rotated }, audienceUrl, log, simulation, storeControl);
    attachAudienceSockets(io, audience, log);
    http.listen(config.port, config.listen);
    await once(http, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? `: port ${config.port} is taken; set FLEET_SERVER_PORT` : '';
    log.error(`fleetkit server cannot start: ${errorMessage(error)}${hint}`);
    return 1;
  }
  fleet.start();
  simulation?.start();
  storeControl?.start();
  log.info({ audienceUrl }, `audience (read-only): ${audienceUrl}`);
  // Which credentials the server uses on the stores, in words (never the secrets themselves).
  log.info(
    { credentials: config.credentialsSummary ?? 'none' },
    `credentials on the stores: ${config.credentialsSummary ?? 'none (the stores are open, or they will say unauthorized)'}`,
  );
  log.info(`presenter: ${presenterUrl}`);
  if (config.classroom) log.info(`classroom: attendees get the kit at ${new URL('kit/', audienceUrl).href}`);
  if (audience)
    log.info(
      `audience devices: phones join at ${new URL(JOIN_PATH.slice(1), audienceUrl).href} (at most ${config.audienceCap})`,
    );
  // The class code: printed once, on this terminal only (never through the logger, never on a page).
  if (config.classCredentials?.codeMade)
    process.stdout.write(
      `classroom: the class code is ${config.classCredentials.code}: write it on the board or say it (never on the page); attendees type it to get the devices' credentials\n`,
    );
  if (config.classroom && !config.classCredentials && config.credentialsSummary)
    log.warn(
      'classroom: this server uses credentials on the stores, but hands none to attendees: their devices will be unauthorized (give it FLEET_CLASS_CREDENTIALS=<secure folder>/device/credentials.env)',
    );
  crashPolicy.started();
  onShutdown(async () => {
    simulation?.close();
    storeControl?.close();
    await audience?.close();
    await fleet.close();
    http.closeAllConnections();
    http.close();
  });
  return undefined;
}
