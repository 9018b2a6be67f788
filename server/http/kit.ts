// The attendee kit, served by the live page with --classroom: /kit/ (the two lines to type, with this
// page's address in them), /kit/fleetkit.mjs (the one-file kit, built once at start) and
// /kit/stores.json (server/kit-contract.ts: the stores as an attendee's laptop reaches them) and, when
// the stores require credentials and the server was given the devices' (FLEET_CLASS_CREDENTIALS),
// /kit/credentials: those credentials, for the class code only (classCredentialsRoute). Without
// --classroom every /kit/ path answers 404 with the sentence that says how to turn it on.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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
import type { ClassCredentials, ServerConfig } from '../config.ts';
import {
  CLASS_CODE_HEADER,
  CLASSROOM_OFF,
  KIT_PATHS,
  KIT_STORES_VERSION,
  type KitCredentialsAnswer,
  type KitStoresAnswer,
  normalizeClassCode,
} from '../kit-contract.ts';
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
    credentials: config.classCredentials !== undefined,
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
  router.all(KIT_PATHS.credentials, classCredentialsRoute(config.classCredentials));
  router.use('/kit', (_req, res) => {
    res.status(404).type('text').send(`not found: the attendee kit is at ${KIT_PATHS.page}\n`);
  });
  return router;
}

/** Wrong codes an address may try per window before it is refused for the rest of it (429). */
export const CODE_TRIES_PER_WINDOW = 5;
export const CODE_WINDOW_MS = 60_000;
/** Addresses remembered at most (a flood of addresses cannot grow the map without bound). */
const MAX_ADDRESSES = 10_000;
/** {"code": "..."} and nothing much else: a body larger than this is refused unread. */
const MAX_BODY_BYTES = 1024;

/** Wrong class codes per address, in fixed windows (the style of socket-guard.ts's limits). */
export class CodeTries {
  private readonly tries = new Map<string, { since: number; wrong: number }>();

  constructor(
    private readonly perWindow = CODE_TRIES_PER_WINDOW,
    private readonly windowMs = CODE_WINDOW_MS,
    private readonly now = () => performance.now(),
  ) {}

  /** Seconds until this address may try again, or 0. */
  blockedFor(address: string): number {
    const entry = this.tries.get(address);
    if (!entry) return 0;
    const left = entry.since + this.windowMs - this.now();
    if (left <= 0) {
      this.tries.delete(address);
      return 0;
    }
    return entry.wrong >= this.perWindow ? Math.ceil(left / 1000) : 0;
  }

  wrong(address: string): void {
    const now = this.now();
    let entry = this.tries.get(address);
    if (!entry || entry.since + this.windowMs <= now) {
      if (this.tries.size >= MAX_ADDRESSES) this.prune(now);
      entry = { since: now, wrong: 0 };
      this.tries.set(address, entry);
    }
    entry.wrong++;
  }

  private prune(now: number): void {
    for (const [address, entry] of this.tries)
      if (entry.since + this.windowMs <= now) this.tries.delete(address);
    // Still full (a flood from that many addresses within one window): the oldest go.
    for (const address of this.tries.keys()) {
      if (this.tries.size < MAX_ADDRESSES) break;
      this.tries.delete(address);
    }
  }
}

const CODE_KEY = randomBytes(32);
const codeDigest = (text: string) => createHmac('sha256', CODE_KEY).update(text, 'utf8').digest();

/** The code given, compared in constant time whatever its length; false for anything not a string. */
export function sameClassCode(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length > 200) return false;
  return timingSafeEqual(codeDigest(normalizeClassCode(given)), codeDigest(normalizeClassCode(expected)));
}

const WRONG_CODE =
  'wrong class code: nothing was handed out. Type the code the instructor gives in the room (on the board or said aloud; it is never on the page), or ask the instructor for it.';
const NO_CODE = `no class code: send it in the ${CLASS_CODE_HEADER} header (GET or POST) or as {"code": "..."} in a POST body; never in the URL`;

/** The body of a POST, up to MAX_BODY_BYTES; undefined when larger or broken. */
function readBody(req: express.Request): Promise<string | undefined> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: string | undefined) => {
      if (done) return;
      done = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => finish(undefined));
    req.on('aborted', () => finish(undefined));
  });
}

/** The code a request carries: the header, else a POST body's "code" (JSON) or the whole body (text). */
async function givenCode(req: express.Request): Promise<{ code?: string; problem?: string }> {
  // Distinct: Node joins repeated headers with ", " (two codes sent would read as one).
  const headers = req.headersDistinct[CLASS_CODE_HEADER];
  if (headers && headers.length > 1) return { problem: `one ${CLASS_CODE_HEADER} header, not several` };
  const header = headers?.[0];
  if (typeof header === 'string' && header !== '') return { code: header };
  if (req.method !== 'POST') return {};
  const body = await readBody(req);
  if (body === undefined) return { problem: `a body of at most ${MAX_BODY_BYTES} bytes` };
  const text = body.trim();
  if (text === '') return {};
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      const code = (parsed as { code?: unknown } | null)?.code;
      return typeof code === 'string' ? { code } : { problem: 'a JSON body {"code": "..."}' };
    } catch {
      return { problem: 'a JSON body {"code": "..."}' };
    }
  }
  return { code: text };
}

/**
 * GET or POST /kit/credentials: the devices' credentials for the class code, 403 for a wrong one (the
 * address's wrong tries counted: after CODE_TRIES_PER_WINDOW within a minute, 429 until the minute
 * ends, whatever it sends), 404 when the server hands out none. Nothing here is logged.
 */
export function classCredentialsRoute(
  classCredentials: ClassCredentials | undefined,
  tries = new CodeTries(),
): express.RequestHandler {
  return (req, res) => {
    res.set('cache-control', 'no-store');
    if (!classCredentials) {
      res
        .status(404)
        .type('text')
        .send(
          'no credentials to hand out: the stores need none here (or the instructor did not give the server FLEET_CLASS_CREDENTIALS)\n',
        );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.status(405).set('allow', 'GET, POST').type('text').send(`${NO_CODE}\n`);
      return;
    }
    const address = req.socket.remoteAddress ?? 'unknown';
    const blocked = tries.blockedFor(address);
    if (blocked > 0) {
      req.resume();
      res
        .status(429)
        .set('retry-after', String(blocked))
        .type('text')
        .send(
          `too many wrong class codes from this address: wait ${blocked} s, then type the code the instructor gives in the room\n`,
        );
      return;
    }
    void givenCode(req).then(
      ({ code, problem }) => {
        if (res.headersSent) return;
        if (code === undefined) {
          res
            .status(400)
            .type('text')
            .send(`${problem ? `expected ${problem}` : NO_CODE}\n`);
          return;
        }
        if (!sameClassCode(code, classCredentials.code)) {
          tries.wrong(address);
          res.status(403).type('text').send(`${WRONG_CODE}\n`);
          return;
        }
        const answer: KitCredentialsAnswer = {
          version: KIT_STORES_VERSION,
          summary: classCredentials.packed.summary,
          files: classCredentials.packed.files.map((f) => ({
            name: f.name as KitCredentialsAnswer['files'][number]['name'],
            text: f.data.toString('utf8'),
          })),
        };
        res.json(answer);
      },
      () => {
        if (!res.headersSent) res.status(400).type('text').send(`${NO_CODE}\n`);
      },
    );
  };
}
