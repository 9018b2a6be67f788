// The stores the kit started, as the server consumes them: the loopback control API that `npm run demo`
// and `fleetkit stores` serve (provision/stores/control.ts implements it), the checks of a request, and
// a client. The server owns this contract, so that server/ imports nothing from provision/.
//
//   GET  /stores                              every store the kit runs, with its members (KitStore[])
//   POST /stores/STORE/ACTION                 the whole store (every member): stop, kill or restart
//   POST /stores/STORE/members/N/ACTION       one member of a cluster (N from 1)
//
// An action answers when it is done (a restart once the member answers again), with the store's new
// KitStore. The API stops and kills processes, so it is guarded like a door, not like a page, by the
// guard it shares with the simulated fleet's (loopback-api.ts): 127.0.0.1 only, the secret in every
// request (`authorization: Bearer SECRET`; the server gets it as FLEET_STORE_CONTROL_SECRET), Host
// checked, Origin refused.
import { type FieldIssue, STORE_KINDS, type StoreKind, ValidationError } from '../lib/registry/index.ts';
import type { KitStore, StoreControlAction, StoreControlRequest } from './contract.ts';
import { bearer } from './loopback-api.ts';

export { SECRET_PATTERN, sameSecret } from './loopback-api.ts';
/** The variable that gives the server the store control's secret. */
export const STORE_CONTROL_SECRET_VARIABLE = 'FLEET_STORE_CONTROL_SECRET';

export type {
  KitMemberState,
  KitStore,
  KitStoreMember,
  StoreControlAction,
  StoreControlRequest,
} from './contract.ts';

export const STORE_CONTROL_ACTIONS: readonly StoreControlAction[] = ['stop', 'kill', 'restart'];
/** The kit runs 1, 3 or 5 members; the runner allows up to 9. */
export const MAX_MEMBERS = 9;
/** A restart waits until the member answers as part of its cluster: up to a minute on a busy 2-core machine. */
export const ACTION_TIMEOUT_MS = 150_000;

type Fields = Record<string, unknown>;

/** An action as it arrived (a socket payload): its store, member and action, or every bad field. */
export function parseStoreControl(payload: unknown): StoreControlRequest {
  const example = '{"store": "etcd", "member": 1, "action": "kill"}';
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new ValidationError('storeControl', [
      { field: 'request', expected: `an object such as ${example}` },
    ]);
  const fields = payload as Fields;
  const own = (key: string) => (Object.hasOwn(fields, key) ? fields[key] : undefined);
  return checkStoreControl(own('store'), own('member'), own('action'));
}

/** The three parts of a request, from a socket payload or an HTTP path; throws a ValidationError naming each bad one. */
export function checkStoreControl(store: unknown, member: unknown, action: unknown): StoreControlRequest {
  const issues: FieldIssue[] = [];
  if (typeof store !== 'string' || !STORE_KINDS.includes(store as StoreKind))
    issues.push({ field: 'store', expected: `one of ${STORE_KINDS.join(', ')}` });
  if (
    member !== undefined &&
    !(Number.isInteger(member) && (member as number) >= 1 && (member as number) <= MAX_MEMBERS)
  )
    issues.push({
      field: 'member',
      expected: `a member number from 1 to ${MAX_MEMBERS}, or none for the whole store`,
    });
  if (typeof action !== 'string' || !STORE_CONTROL_ACTIONS.includes(action as StoreControlAction))
    issues.push({ field: 'action', expected: `one of ${STORE_CONTROL_ACTIONS.join(', ')}` });
  if (issues.length > 0) throw new ValidationError('storeControl', issues);
  return {
    store: store as StoreKind,
    ...(member === undefined ? {} : { member: member as number }),
    action: action as StoreControlAction,
  };
}

/** "etcd m2" or "etcd" (the whole store). */
export function targetText(request: Pick<StoreControlRequest, 'store' | 'member'>): string {
  return request.member === undefined ? request.store : `${request.store} m${request.member}`;
}

/** The request's path on the control API. */
export function actionPath(request: StoreControlRequest): string {
  return request.member === undefined
    ? `/stores/${request.store}/${request.action}`
    : `/stores/${request.store}/members/${request.member}/${request.action}`;
}

/** Talks to the kit's store control API. */
export class StoreControlClient {
  constructor(
    readonly url: string,
    private readonly secret: string,
  ) {}

  list(): Promise<KitStore[]> {
    return this.request('GET', '/stores', 10_000) as Promise<KitStore[]>;
  }

  act(request: StoreControlRequest): Promise<KitStore> {
    return this.request('POST', actionPath(request), ACTION_TIMEOUT_MS) as Promise<KitStore>;
  }

  private async request(method: string, path: string, timeoutMs: number): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: bearer(this.secret),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError')
        throw new Error(
          `the store control did not answer within ${timeoutMs / 1000} s: see the terminal that runs the stores`,
        );
      throw new Error(
        `the stores' control at ${this.url} does not answer: was \`npm run demo\` or \`fleetkit stores\` stopped?`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as { error?: unknown };
    if (!res.ok) throw new Error(typeof body.error === 'string' ? body.error : `HTTP ${res.status}`);
    return body;
  }
}
