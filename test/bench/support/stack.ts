// What most scenarios stand on: one real process of each store, the real `fleetkit server`, and the
// live page open in headless Chromium with the probe installed.
import type { Browser, Page } from 'playwright-core';
import { livenessEnv } from '../../../lib/cli/common-settings.ts';
import type { LivenessSettings, StoreKind } from '../../../lib/registry/index.ts';
import { livenessWindowMs, STORE_KINDS } from '../../../lib/registry/index.ts';
import type { StoreDurability, StoreProcess } from '../../../provision/stores/index.ts';
import { launchBrowser, openPage } from '../../support/browser.ts';
import { type RunningServer, startServer } from '../../support/servers.ts';
import { startThreeStores } from '../../support/stores.ts';
import { PageProbe } from './page-probe.ts';

export const BENCH_NAMESPACE = 'fleet';
export const BENCH_SERVICE = 'web';

export interface Stack {
  stores: Record<StoreKind, StoreProcess>;
  endpoints: Record<StoreKind, string[]>;
  liveness: LivenessSettings;
  windowsMs: Record<StoreKind, number>;
  server: RunningServer;
  browser: Browser;
  page: Page;
  probe: PageProbe;
  stop(): Promise<void>;
}

/** How the last stack's stores treated the disk (the bench runs them without fsync), for the report's notes. */
const launchedDurability: Partial<Record<StoreKind, StoreDurability>> = {};

/** Noted for the report: a scenario that starts a store of its own (the floor) says how it runs. */
export function recordStoreDurability(store: StoreProcess): void {
  launchedDurability[store.kind] = store.durability;
}

/** One line for bench.json's notes and the console: each store's durability as launched, or undefined. */
export function storesDurabilityNote(): string | undefined {
  const kinds = STORE_KINDS.filter((kind) => launchedDurability[kind]);
  if (kinds.length === 0) return undefined;
  const durable = kinds.filter((kind) => launchedDurability[kind]?.durable).length;
  const head =
    durable === 0
      ? 'stores without waiting on the disk (no fsync; tests and the demo run them so too, `fleetkit stores` is durable)'
      : durable === kinds.length
        ? 'stores durable (each write on the disk before it is acknowledged)'
        : 'stores, some durable';
  return `${head}: ${kinds.map((kind) => `${kind} ${launchedDurability[kind]?.how}`).join(' · ')}`;
}

export interface StackOptions {
  liveness: LivenessSettings;
  /** '0.0.0.0' when devices in network namespaces must reach the stores over the bridge. */
  host: string;
  log: (line: string) => void;
  viewport?: { width: number; height: number };
  /** Extra variables for the server process (e.g. NODE_OPTIONS to profile it). */
  serverEnv?: Record<string, string>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { liveness, host, log } = options;
  log(`  starting etcd, ZooKeeper and Consul (listening on ${host})`);
  // Nothing here needs to survive the machine: no fsync (startThreeStores' default, said explicitly).
  const stores = await startThreeStores({ host, durable: false });
  for (const kind of STORE_KINDS) recordStoreDurability(stores[kind]);
  log(`  stores: ${STORE_KINDS.map((kind) => `${kind} ${stores[kind].durability.how}`).join(' · ')}`);
  const endpoints = Object.fromEntries(STORE_KINDS.map((kind) => [kind, stores[kind].endpoints])) as Record<
    StoreKind,
    string[]
  >;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  try {
    log('  starting the live page (fleetkit server)');
    server = await startServer({
      ...livenessEnv(liveness),
      ...stores.env(),
      FLEET_NAMESPACE: BENCH_NAMESPACE,
      FLEET_SERVICE: BENCH_SERVICE,
      FLEET_LOG_LEVEL: 'warn',
      ...options.serverEnv,
    });
    log('  opening the page in headless Chromium');
    browser = await launchBrowser();
    const { page } = await openPage(browser, server.presenterUrl, options.viewport);
    await page.waitForSelector('#connection[data-state="connected"]', { timeout: 20_000 });
    for (const kind of STORE_KINDS)
      await page.waitForSelector(`[data-store="${kind}"][data-watch="live"]`, { timeout: 20_000 });
    const probe = await PageProbe.attach(page);
    const running = { server, browser };
    return {
      stores,
      endpoints,
      liveness,
      windowsMs: Object.fromEntries(STORE_KINDS.map((k) => [k, livenessWindowMs(k, liveness)])) as Record<
        StoreKind,
        number
      >,
      server,
      browser,
      page,
      probe,
      async stop() {
        await running.browser.close().catch(() => undefined);
        await running.server.stop();
        await stores.stop();
      },
    };
  } catch (error) {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await stores.stop();
    throw error;
  }
}
