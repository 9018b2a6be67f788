// Where the kit finds the stores: the instructor's live page tells them (`GET /kit/stores.json`, see
// server/kit-contract.ts) as an attendee's laptop can reach them. The address typed, the answer and
// each endpoint in it are checked: whatever answers at a mistyped address must not crash the kit or
// point it somewhere odd without saying so.
import {
  LIVENESS_SETTINGS,
  parseLiveness,
  parseStores,
  STORE_SETTINGS,
} from '../../lib/cli/common-settings.ts';
import type { RawSettings, SettingIssue, SettingSpec } from '../../lib/cli/settings.ts';
import {
  DEFAULT_LIVENESS,
  errorMessage,
  hostPort,
  hostSchema,
  type LivenessSettings,
  namespaceSchema,
  parseEndpoints,
  STORE_KINDS,
  type StoreCredentials,
  type StoreKind,
  serviceSchema,
  toFieldIssues,
  ValidationError,
  withBackoff,
} from '../../lib/registry/index.ts';
import { KIT_PATHS, kitStoresSchema } from '../../server/kit-contract.ts';
import { printable } from './terminal.ts';

/** The live page's port when the attendee types only a host. */
export const DEFAULT_PAGE_PORT = 3000;
/** stores.json is a few hundred bytes; whatever answers with more is not the page. */
const MAX_ANSWER_BYTES = 64 * 1024;
const ATTEMPT_TIMEOUT_MS = 8000;

/** The stores a kit command works with. */
export interface KitStores {
  stores: Partial<Record<StoreKind, string[]>>;
  namespace: string;
  service: string;
  liveness: LivenessSettings;
  /** The instructor's live page, when the stores came from it. */
  page: string | null;
  /** The page said its stores require credentials (the class code gets them: class-credentials.ts). */
  credentialsRequired?: boolean;
  /** The credentials to use on the stores (join: the class's, once fetched). */
  credentials?: StoreCredentials;
  /** The file they came from (FLEET_CREDENTIALS for the agents and ./fleetkit.env). */
  credentialsFile?: string;
}

/** A problem the attendee can act on, said in a sentence (printed as is, exit 1). */
export class KitError extends Error {
  override readonly name = 'KitError';
}

/**
 * INSTRUCTOR as typed: `host`, `host:port`, `[v6]:port` or the page's URL (any path or query, such as
 * the presenter's ?token=, is dropped). Returns the page's base URL (`http://host:port/`) or what is wrong.
 */
export function parseInstructor(text: string): { url: string } | { expected: string } {
  const typed = text.trim();
  const expected = `the live page's address: host, host:port or http://host:port/ (not "${printable(typed, { max: 80 })}")`;
  if (typed === '' || typed.length > 300) return { expected };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(typed) ? typed : `http://${typed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { expected };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { expected: `an http:// or https:// address, not ${printable(url.protocol, { max: 20 })}//` };
  if (url.username || url.password) return { expected: 'an address without a user name or password' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostSchema.safeParse(host).success) return { expected };
  const port = url.port
    ? Number(url.port)
    : url.protocol === 'https:' && /^https:/i.test(typed)
      ? 443
      : DEFAULT_PAGE_PORT;
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  return { url: `${scheme}://${hostPort(host, port)}/` };
}

async function readCapped(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new KitError(
        `answered with more than ${MAX_ANSWER_BYTES / 1024} KB: that is not the fleetkit page`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why a request to the page failed, in words an attendee can act on. */
function unreachable(pageUrl: string, error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  const why =
    cause === 'ECONNREFUSED'
      ? 'nothing listens there'
      : cause === 'ENOTFOUND' || cause === 'EAI_AGAIN'
        ? 'no such host name'
        : (error as Error).name === 'TimeoutError'
          ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`
          : (cause ?? errorMessage(error));
  return `cannot reach the instructor's page at ${pageUrl} (${why}): check the address shown on the projector and that this laptop is on the same network (Wi-Fi) as the instructor`;
}

/**
 * The stores as the instructor's page tells them. Retries a flaky network twice (jittered backoff);
 * throws a KitError saying what to do. `progress` is told each attempt.
 */
export async function kitStores(
  instructor: string,
  progress: (line: string) => void = () => {},
): Promise<KitStores & { page: string }> {
  const parsed = parseInstructor(instructor);
  if ('expected' in parsed) throw new KitError(`INSTRUCTOR: expected ${parsed.expected}`);
  const source = new URL(KIT_PATHS.stores.slice(1), parsed.url).href;
  const response = await withBackoff(
    async () => {
      try {
        return await fetch(source, {
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
          headers: { accept: 'application/json' },
          redirect: 'error',
        });
      } catch (error) {
        throw new KitError(unreachable(parsed.url, error));
      }
    },
    {
      initialMs: 1000,
      maxMs: 4000,
      onRetry: (error, attempt) => {
        if (attempt > 2) return false;
        progress(`  ${errorMessage(error)}; trying again`);
        return true;
      },
    },
  );
  const body = await readCapped(response).catch((error) => {
    throw error instanceof KitError
      ? new KitError(`${source} ${error.message}`)
      : new KitError(unreachable(parsed.url, error));
  });
  if (!response.ok) {
    const said = printable(body.trim(), { max: 300 });
    throw new KitError(
      `${source} answered HTTP ${response.status}${said ? `: ${said}` : ''}${response.status === 404 ? '\n(ask the instructor to turn the classroom on, or check the address)' : ''}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new KitError(`${source} did not answer JSON: is ${parsed.url} the fleetkit page?`);
  }
  const answer = kitStoresSchema.safeParse(json);
  if (!answer.success) {
    const issues = toFieldIssues(answer.error)
      .slice(0, 6)
      .map((i) => `  ${printable(i.field, { max: 80 })}: expected ${i.expected}`);
    throw new KitError(`${source} answered with stores this kit cannot use:\n${issues.join('\n')}`);
  }
  const stores: Partial<Record<StoreKind, string[]>> = {};
  const bad: string[] = [];
  for (const store of STORE_KINDS) {
    const list = answer.data.stores[store];
    if (!list || list.length === 0) continue;
    try {
      stores[store] = parseEndpoints(store, list, `stores.${store}`).map((e) => e.address);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      bad.push(...error.issues.map((i) => `  ${i.field}: ${printable(i.expected, { max: 200 })}`));
    }
  }
  if (bad.length > 0) throw new KitError(`${source} named endpoints this kit cannot use:\n${bad.join('\n')}`);
  return {
    stores,
    namespace: answer.data.namespace,
    service: answer.data.service,
    liveness: answer.data.liveness,
    page: answer.data.page,
    credentialsRequired: answer.data.credentials === true,
  };
}

/** The setting every kit command that talks to the stores takes besides the stores themselves. */
export const FROM_SETTING: SettingSpec = {
  key: 'from',
  flag: 'from',
  env: 'FLEET_FROM',
  help: "the instructor's live page (host, host:port or URL): use the stores it names",
  defaultText: 'the stores in ./fleetkit.env (join writes it) or the settings below',
};

/** The settings of a kit command that talks to the stores: --from, then the usual store settings. */
export const KIT_STORE_SETTINGS: readonly SettingSpec[] = [FROM_SETTING, ...STORE_SETTINGS];

const NO_STORES =
  'the stores: run `node fleetkit.mjs join INSTRUCTOR` in this folder first (it writes ./fleetkit.env), or give --from INSTRUCTOR, or --etcd / --zookeeper / --consul';

/**
 * For a kit command's settings check (parseCommand with an async check): the stores from --from
 * (asked of the page), else from --etcd/--zookeeper/--consul (FLEET_*, ./fleetkit.env). What is wrong
 * goes to `issues`, named by setting; undefined then.
 */
export async function storesFromSettings(
  values: RawSettings,
  issues: SettingIssue[],
): Promise<KitStores | undefined> {
  const from = values.from as string | undefined;
  const namespace = namespaceSchema.safeParse(values.namespace ?? 'fleet');
  if (!namespace.success) issues.push(...toFieldIssues(namespace.error, 'namespace'));
  const service = serviceSchema.safeParse(values.service ?? 'web');
  if (!service.success) issues.push(...toFieldIssues(service.error, 'service'));
  const liveness = LIVENESS_SETTINGS.some((s) => values[s.key] !== undefined)
    ? parseLiveness(values, issues)
    : { ...DEFAULT_LIVENESS };
  if (from !== undefined) {
    const parsed = parseInstructor(from);
    if ('expected' in parsed) {
      issues.push({ field: 'from', expected: parsed.expected });
      return undefined;
    }
    try {
      const found = await kitStores(from);
      // The page's stores require credentials and none are given: every store would say unauthorized.
      if (found.credentialsRequired && !values.credentials && !values.etcdUser && !values.consulToken) {
        issues.push({
          field: 'from',
          expected: `credentials for ${found.page}'s stores (they require them): run \`node fleetkit.mjs join ${printable(from, { max: 80 })}\` in this folder first (it asks for the class code and saves them in ./credentials/), then run this command there without --from`,
        });
        return undefined;
      }
      return found;
    } catch (error) {
      if (!(error instanceof KitError)) throw error;
      issues.push({ field: 'from', expected: `a page that tells its stores (${error.message})` });
      return undefined;
    }
  }
  if (!STORE_KINDS.some((k) => (values[k] as string[] | undefined)?.length)) {
    issues.push({ field: 'from', expected: NO_STORES });
    return undefined;
  }
  const stores = parseStores(values, issues);
  if (!namespace.success || !service.success) return undefined;
  return { stores, namespace: namespace.data, service: service.data, liveness, page: null };
}
