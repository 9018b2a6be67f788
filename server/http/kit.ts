// The attendee kit, served by the live page with --classroom: /kit/ (the two lines to type, with this
// page's address in them), /kit/fleetkit.mjs (the one-file kit, built once at start) and
// /kit/stores.json (server/kit-contract.ts: the stores as an attendee's laptop reaches them). Without
// --classroom every /kit/ path answers 404 with the sentence that says how to turn it on.
import type { IncomingHttpHeaders } from 'node:http';
import express from 'express';
import {
  endpointAddress,
  hostPort,
  hostSchema,
  parseEndpoints,
  portSchema,
  type StoreKind,
} from '../../lib/registry/index.ts';
import type { ServerConfig } from '../config.ts';
import { CLASSROOM_OFF, KIT_PATHS, KIT_STORES_VERSION, type KitStoresAnswer } from '../kit-contract.ts';
import { lanAddress } from '../lan-address.ts';
import { escapeHtml, htmlDocument } from '../page/index.html.ts';

export interface KitOptions {
  config: Readonly<ServerConfig>;
  /** The kit's code (device/kit/build.ts), built at start; null when the classroom is off. */
  bundle: string | null;
  audienceUrl: string;
}

/** The Host header as a host and port, when it is one (a hostile or garbled header is not). */
export function requestHost(
  headers: IncomingHttpHeaders,
): { host: string; port: number | undefined } | undefined {
  const header = headers.host;
  if (typeof header !== 'string' || header.length > 300) return undefined;
  const match =
    /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(header) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(header);
  if (!match) return undefined;
  const host = match[1]!;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (!hostSchema.safeParse(host).success) return undefined;
  if (port !== undefined && !portSchema.safeParse(port).success) return undefined;
  return { host, port };
}

/** An address no other machine can use to reach this one. */
const isLocalOnly = (host: string) =>
  host === 'localhost' || host === '0.0.0.0' || host === '::' || host === '::1' || /^127\./.test(host);

/**
 * The stores as a laptop reaches them: a store listening on loopback or on every address is at the
 * host the attendee reached this page by (checked), else at this machine's LAN address.
 */
export function storesFor(
  config: Readonly<ServerConfig>,
  headers: IncomingHttpHeaders,
  audienceUrl: string,
): KitStoresAnswer {
  const reached = requestHost(headers);
  const host = reached?.host ?? lanAddress();
  const stores: Partial<Record<StoreKind, string[]>> = {};
  for (const [store, list] of Object.entries(config.stores) as [StoreKind, string[]][]) {
    stores[store] = parseEndpoints(store, list).map((e) =>
      isLocalOnly(e.host) ? endpointAddress(store, { ...e, host }) : e.address,
    );
  }
  return {
    version: KIT_STORES_VERSION,
    page: pageUrl(config, reached, audienceUrl),
    namespace: config.namespace,
    service: config.service,
    stores,
    liveness: config.liveness,
  };
}

/** This page as the attendee reached it (or the audience URL when the Host header is no use). */
function pageUrl(
  config: Readonly<ServerConfig>,
  reached: ReturnType<typeof requestHost>,
  audienceUrl: string,
): string {
  if (!reached || config.publicUrl) return audienceUrl;
  return `http://${hostPort(reached.host, reached.port ?? 80)}/`;
}

/** The short page: the two lines to type, with this page's address in them. Every value escaped. */
export function kitPageHtml(page: string): string {
  const base = new URL(page);
  const address = base.port ? `${base.hostname}:${base.port}` : base.hostname;
  const kitUrl = new URL(KIT_PATHS.bundle.slice(1), base).href;
  const e = escapeHtml;
  return htmlDocument(
    'fleetkit: join with your laptop',
    `<style>
body { margin: 0; padding: 24px; background: #14171c; color: #e8eaed; font: 18px/1.5 system-ui, sans-serif; }
main { max-width: 46rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
pre { background: #000; color: #fff; padding: 14px 16px; border-radius: 6px; font: 1.05rem/1.6 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; }
.muted { color: #9aa3ad; font-size: 0.95rem; }
a { color: #8ab4f8; }
</style>`,
    `<main>
<h1>Join the fleet with your laptop</h1>
<p>You need Node.js 20 or newer (<code>node --version</code>), nothing else. In an empty folder, type:</p>
<pre id="kit-commands">curl -O ${e(kitUrl)}
node fleetkit.mjs join ${e(address)} --name yourname</pre>
<p class="muted">Windows PowerShell: type <code>curl.exe</code> instead of <code>curl</code>. No curl at all? Save <a href="${e(kitUrl)}" download="fleetkit.mjs">fleetkit.mjs</a> into the folder.
Your name becomes your devices' names (yourname-1, yourname-2, …); Ctrl-C takes them away again.
<code>node fleetkit.mjs --help</code> lists the other commands (pick, watch, and get / put / watch in each store).</p>
<p class="muted">The live page: <a href="${e(page)}">${e(page)}</a></p>
</main>`,
  );
}

export function kitRoutes(options: KitOptions): express.Router {
  const router = express.Router();
  const { bundle, config, audienceUrl } = options;
  if (bundle === null) {
    router.use('/kit', (_req, res) => {
      res.status(404).type('text').send(`${CLASSROOM_OFF}\n`);
    });
    return router;
  }
  router.get(KIT_PATHS.page, (req, res) => {
    res
      .type('html')
      .set('cache-control', 'no-cache')
      .send(kitPageHtml(storesFor(config, req.headers, audienceUrl).page));
  });
  router.get(KIT_PATHS.bundle, (_req, res) => {
    res
      .type('application/javascript')
      .set({ 'cache-control': 'no-cache', 'content-disposition': 'attachment; filename="fleetkit.mjs"' })
      .send(bundle);
  });
  router.get(KIT_PATHS.stores, (req, res) => {
    res.set('cache-control', 'no-store').json(storesFor(config, req.headers, audienceUrl));
  });
  router.use('/kit', (_req, res) => {
    res.status(404).type('text').send(`not found: the attendee kit is at ${KIT_PATHS.page}\n`);
  });
  return router;
}
