/// <reference lib="dom" />
// The live page's entry: connects to the control host with socket.io, keeps the fleet state (a full
// snapshot on every connect, then batches of changes) and shows it. Bundled by build.ts.
import { io, type Socket } from 'socket.io-client';
import type {
  Ack,
  ClientToServerEvents,
  HandshakeAuth,
  ServerToClientEvents,
  SetColorRequest,
  SimulateRequest,
  StoreControlRequest,
} from '../contract.ts';
import { pageNow, recordTrace } from './bench-trace.ts';
import type { SetColorResult } from './controls.ts';
import type { SimulateResult } from './sim-controls.ts';
import { FleetState } from './state.ts';
import { type StoreControlResult, storeControls } from './store-controls.ts';
import { PIN_EVENT, type PinRequest } from './timeline-pin.ts';
import { FleetView } from './view.ts';

const TOKEN_KEY = 'fleetkit.token';
const ACK_TIMEOUT_MS = 5000;
/** The server's wait for the kit's store control (ACTION_TIMEOUT_MS, 150 s), and a little more. */
const STORE_CONTROL_TIMEOUT_MS = 160_000;
/** Failed attempts in a row before "reconnecting…" becomes "server unreachable". */
const UNREACHABLE_AFTER = 2;

/**
 * The token comes in the page's URL (?token=...). It is kept for this tab (a reload still works) and
 * taken out of the address bar, which a projector shows to the whole room.
 */
function takeToken(): string | undefined {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      url.searchParams.delete('token');
      history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    } catch {
      // Storage refused (private mode): keep the token in the address bar so a reload still works.
    }
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function start(root: HTMLElement): void {
  const token = takeToken();
  const auth: HandshakeAuth = token ? { token } : {};
  // Retry every 0.5-2 s (socket.io's default backs off to 5 s): on a venue LAN the control host comes
  // back fast after a restart, and the room should see the fleet again at once.
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
    auth: { ...auth },
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });
  const state = new FleetState();

  const notConnected = { ok: false, error: 'not connected to the control host' } as const;
  const noAnswer = { ok: false, error: `no answer within ${ACK_TIMEOUT_MS / 1000} s` } as const;
  /** One request to the server and its answer; a silence past `timeoutMs` is an answer too. */
  const ask = <T>(
    emit: (
      timed: ReturnType<typeof socket.timeout>,
      done: (error: Error | null, result: Ack<T>) => void,
    ) => void,
    timeoutMs = ACK_TIMEOUT_MS,
  ) =>
    new Promise<Ack<T>>((resolve) => {
      if (!socket.connected) return resolve(notConnected);
      emit(socket.timeout(timeoutMs), (error, result) =>
        resolve(error ? { ok: false, error: `no answer within ${timeoutMs / 1000} s` } : result),
      );
    });
  const setColor = (request: SetColorRequest): Promise<SetColorResult> =>
    ask((timed, done) => timed.emit('setColor', request, done));
  const simulate = (request: SimulateRequest): Promise<SimulateResult> =>
    ask((timed, done) => timed.emit('simulate', request, done));
  const rotateToken = () => ask<{ where: string }>((timed, done) => timed.emit('rotateToken', {}, done));
  // Stopping or restarting a store member waits for it: up to a minute for a member to rejoin its cluster.
  storeControls.connect(
    (request: StoreControlRequest): Promise<StoreControlResult> =>
      ask((timed, done) => timed.emit('storeControl', request, done), STORE_CONTROL_TIMEOUT_MS),
  );
  const audience = {
    joining: (joining: boolean) =>
      ask<{ joining: boolean }>((timed, done) => timed.emit('audienceJoining', { joining }, done)),
    removeAll: () => ask<{ removed: number }>((timed, done) => timed.emit('removeAudience', {}, done)),
  };
  const view = new FleetView(root, state, { setColor, simulate, rotateToken, audience });
  // The presenter's pin and unpin (timeline-pin.ts asks with a DOM event, so the timeline holds no socket).
  root.addEventListener(PIN_EVENT, (event) => {
    const { seq, done } = (event as CustomEvent<PinRequest>).detail;
    if (!socket.connected) return done(notConnected.error);
    socket.timeout(ACK_TIMEOUT_MS).emit('pinTimeline', { seq }, (error, result) => {
      done(error ? noAnswer.error : result.ok ? null : result.error);
    });
  });

  socket.on('snapshot', (snapshot) => {
    try {
      state.replace(snapshot);
      storeControls.setPresenter(snapshot.presenter === true);
      view.renderSnapshot();
    } catch (error) {
      console.error('fleetkit: cannot show the snapshot', error);
    }
  });
  socket.on('changes', (changes) => {
    try {
      if (changes.trace) recordTrace(changes, pageNow());
      view.renderChanges(state.apply(changes));
    } catch (error) {
      console.error('fleetkit: cannot apply changes', error);
    }
  });

  let everConnected = false;
  let failures = 0;
  socket.on('connect', () => {
    everConnected = true;
    failures = 0;
    view.setConnection('connected');
  });
  socket.on('disconnect', (reason) => {
    view.setConnection('reconnecting');
    // The server closed this connection on purpose: socket.io does not retry that by itself.
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 2000);
  });
  socket.on('connect_error', (error) => {
    if (!socket.active) {
      // Refused by the server's handshake check (a bad token): retrying would not help.
      view.setConnection('refused', error.message);
      return;
    }
    failures++;
    view.setConnection(everConnected && failures < UNREACHABLE_AFTER ? 'reconnecting' : 'unreachable');
  });

  setInterval(() => view.tick(), 1000);
}

const root = document.getElementById('app');
if (root) start(root);
else console.error('fleetkit: no #app element on the page');
