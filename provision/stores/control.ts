// The stores the kit started, with their hands: a loopback HTTP API that stops, kills (SIGKILL) and
// restarts a store or one member of a cluster, for the live page's presenter (through the server) and
// nobody else. `npm run demo` and `fleetkit stores` serve it. The API is the server's contract
// (server/store-control-contract.ts), which says the routes and the protections: loopback only, the
// secret in every request, Host checked, Origin refused.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, isValidationError } from '../../lib/registry/index.ts';
import { guardLoopbackRequest, LOOPBACK, newSecret } from '../../server/loopback-api.ts';
import {
  checkStoreControl,
  type KitStore,
  type KitStoreMember,
  STORE_CONTROL_ACTIONS,
  STORE_CONTROL_SECRET_VARIABLE,
  type StoreControlAction,
  type StoreControlRequest,
  targetText,
} from '../../server/store-control-contract.ts';
import type { StoreKind, StoreProcess } from './types.ts';

/** A store the kit runs: a single process is a store of one member. */
export interface ControlledStore {
  readonly kind: StoreKind;
  readonly members: readonly StoreProcess[];
}

export interface StoreControl {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly secret: string;
  readonly server: Server;
  close(): Promise<void>;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What the API keeps per member beyond the process itself. */
interface MemberState {
  process: StoreProcess;
  /** The last action that ended it (killed, stopped), cleared by a restart: says why it is not running. */
  ended: 'killed' | 'stopped' | null;
  busy: StoreControlAction | null;
}

const DONE: Record<StoreControlAction, 'killed' | 'stopped' | null> = {
  kill: 'killed',
  stop: 'stopped',
  restart: null,
};
const DOING: Record<StoreControlAction, string> = {
  stop: 'stopping',
  kill: 'killing',
  restart: 'restarting',
};

export async function serveStoreControl(
  stores: readonly ControlledStore[],
  options: { port?: number; secret?: string } = {},
): Promise<StoreControl> {
  const secret = options.secret ?? newSecret();
  const members = new Map<StoreKind, MemberState[]>(
    stores.map((store) => [
      store.kind,
      store.members.map((process) => ({ process, ended: null, busy: null })),
    ]),
  );
  const errors = new Map<StoreKind, string | null>();
  let port = 0;

  const view = (store: StoreKind): KitStore => ({
    store,
    members: (members.get(store) ?? []).map(
      (m, i): KitStoreMember => ({
        member: i + 1,
        endpoint: m.process.endpoints[0] ?? '',
        ports: Object.values(m.process.ports).filter((p) => p > 0),
        state: m.process.running ? 'running' : (m.ended ?? 'exited'),
        pid: m.process.pid ?? null,
        busy: m.busy,
      }),
    ),
    error: errors.get(store) ?? null,
  });

  async function act(request: StoreControlRequest): Promise<KitStore> {
    const all = members.get(request.store);
    if (!all)
      throw new Refused(404, `${request.store} was not started by this kit: there is nothing to control`);
    const busy = all.find((m) => m.busy);
    if (busy)
      throw new Refused(
        409,
        `${request.store} is busy (${DOING[busy.busy!]} m${all.indexOf(busy) + 1}): wait for it to finish, then try again`,
      );
    if (request.member !== undefined && request.member > all.length)
      throw new Refused(400, `member: ${request.store} has members 1 to ${all.length}`);
    const targets = request.member === undefined ? all : [all[request.member - 1]!];
    const what = targetText(request);
    if (request.action !== 'restart' && targets.every((m) => !m.process.running))
      throw new Refused(
        409,
        `${what} is not running (${view(request.store)
          .members.map((m) => `m${m.member} ${m.state}`)
          .join(', ')}): restart it first`,
      );
    for (const m of targets) m.busy = request.action;
    try {
      if (request.action === 'stop') {
        // One after another: etcd members stopped together wait for each other's hand-over (cluster.ts).
        for (const m of targets) if (m.process.running) await m.process.stop();
      } else if (request.action === 'kill') {
        await Promise.all(targets.filter((m) => m.process.running).map((m) => m.process.kill('SIGKILL')));
      } else {
        // Together: members of a cluster that lost its quorum answer only once enough of them are back.
        await Promise.all(targets.map((m) => m.process.restart()));
      }
      for (const m of targets) m.ended = DONE[request.action];
      errors.set(request.store, null);
    } catch (error) {
      const message =
        `${request.action} ${what} failed: ${errorMessage(error).slice(0, 300)}. ` +
        'Its log is in the terminal that runs the stores; try the restart again, or stop the demo (Ctrl-C) and start it again';
      errors.set(request.store, message);
      throw new Refused(409, message);
    } finally {
      for (const m of targets) m.busy = null;
    }
    return view(request.store);
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      const status = error instanceof Refused ? error.status : isValidationError(error) ? 400 : 500;
      reply(res, status, { error: errorMessage(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The guard shared with the simulated fleet's API: Host, Origin, the secret (server/loopback-api.ts).
    const refused = guardLoopbackRequest(req.headers, {
      port,
      secret,
      secretVariable: STORE_CONTROL_SECRET_VARIABLE,
    });
    if (refused) throw new Refused(refused.status, refused.error);
    const parts = new URL(req.url ?? '/', 'http://control').pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts.length === 1 && parts[0] === 'stores')
      return reply(res, 200, [...members.keys()].map(view));
    if (req.method === 'POST' && parts[0] === 'stores' && (parts.length === 3 || parts.length === 5)) {
      const [, store, second, member, action] = parts;
      if (parts.length === 5 && second !== 'members') throw new Refused(404, routes());
      const request = checkStoreControl(
        store,
        parts.length === 5 ? memberNumber(member!) : undefined,
        parts.length === 5 ? action : second,
      );
      return reply(res, 200, await act(request));
    }
    throw new Refused(404, routes());
  }

  server.listen(options.port ?? 0, LOOPBACK);
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${LOOPBACK}:${port}`,
    secret,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The settings file that gives `fleetkit server` the store control (`--env-file`): its URL and secret. */
export function storeControlSettings(control: Pick<StoreControl, 'url' | 'secret'>): string {
  return (
    `# The stores' control API of \`fleetkit stores\` (pid ${process.pid}); removed when it stops.\n` +
    `FLEET_STORE_CONTROL=${control.url}\nFLEET_STORE_CONTROL_SECRET=${control.secret}\n`
  );
}

/** A path's member number as written ("2"), or the text itself when it is none (refused by the check). */
function memberNumber(text: string): unknown {
  return /^[1-9][0-9]{0,2}$/.test(text) ? Number(text) : text;
}

const routes = () =>
  `try GET /stores, POST /stores/STORE/ACTION or POST /stores/STORE/members/N/ACTION (ACTION: ${STORE_CONTROL_ACTIONS.join(', ')})`;

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
