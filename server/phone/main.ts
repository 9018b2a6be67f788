// The phone's page at /join: the phone becomes a device as soon as it loads (the control host registers
// it in every store while this page heartbeats), shows the fleet's color full screen, and shows how
// each store holds it: one bar per store that drains from the last beat the server answered, over the
// server's wait for a silent phone plus that store's own window (what the store will see if this phone
// goes quiet now: flight mode drains them at each store's speed). It reports what the browser measures
// of itself (event-loop delay, battery) as its load. Everything from the server is shown as text
// (textContent), never as HTML. Refused (room full, joining paused), it shows the fleet read-only.
import { io } from 'socket.io-client';
import {
  AUDIENCE_NAMESPACE,
  type FleetGlance,
  type JoinAnswer,
  type PhoneStore,
  type PhoneView,
} from '../audience-contract.ts';
import type { Ack, BrowserLoad } from '../contract.ts';
import { inkFor } from '../page/contrast.ts';
import { cssColorRgb } from '../page/dom.ts';
import { browserLoadText } from '../page/format.ts';
import { LoadMeter } from './load-meter.ts';

const KEY_ITEM = 'fleetkit-phone-key';
/** The page's load goes with every this-many beats. */
const LOAD_EVERY_BEATS = 5;

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const idLine = el<HTMLElement>('phone-id');
const status = el<HTMLElement>('phone-status');
const stores = el<HTMLUListElement>('phone-stores');
const loadLine = el<HTMLElement>('phone-load');
const leaveButton = el<HTMLButtonElement>('phone-leave');
const joinButton = el<HTMLButtonElement>('phone-join');
const watchLink = el<HTMLAnchorElement>('phone-watch');

const socket = io(AUDIENCE_NAMESPACE, { transports: ['websocket', 'polling'] });
const meter = new LoadMeter();
let joined: JoinAnswer | null = null;
let beatTimer: number | undefined;
let beats = 0;
let shownColor: string | null = null;
/** The color last reported to the server as shown (written back to the phone's records). */
let reportedColor: string | null = null;
/** The presenter removed this phone: it waits for a tap, it does not join again by itself. */
let removed = false;
/** When the server last answered a beat or a join (this page's clock): the bars drain from here. */
let heardAt = 0;
let view: PhoneView | null = null;
const bars = new Map<string, { name: HTMLElement; fill: HTMLElement; left: HTMLElement }>();

function savedKey(): string | undefined {
  try {
    return localStorage.getItem(KEY_ITEM) ?? undefined;
  } catch {
    return undefined; // private mode: one device per page load
  }
}

function saveKey(key: string | null): void {
  try {
    if (key === null) localStorage.removeItem(KEY_ITEM);
    else localStorage.setItem(KEY_ITEM, key);
  } catch {
    // private mode
  }
}

function request<T>(event: string, payload?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    socket.timeout(10_000).emit(event, payload ?? {}, (error: Error | null, answer: Ack<T>) => {
      if (error) reject(new Error('no answer from the page: is the Wi-Fi still there?'));
      else if (answer.ok) resolve(answer.data);
      else reject(new Error(answer.error));
    });
  });
}

function say(text: string): void {
  status.textContent = text;
}

/** Not a device (refused, left, removed): the fleet's color read-only, a link to the fleet, a way back. */
function watching(text: string): void {
  say(text);
  // A device a moment ago joins again (a new one: its key is gone); a refused page tries again.
  joinButton.textContent = joined ? 'Join again' : 'Try again';
  joined = null;
  clearInterval(beatTimer);
  idLine.textContent = '';
  view = null;
  stores.replaceChildren();
  bars.clear();
  loadLine.textContent = '';
  leaveButton.hidden = true;
  joinButton.hidden = false;
  watchLink.hidden = false;
}

async function join(): Promise<void> {
  joinButton.hidden = true;
  removed = false;
  say('joining the fleet…');
  try {
    const key = savedKey();
    joined = await request<JoinAnswer>('join', key === undefined ? {} : { key });
  } catch (error) {
    const message = (error as Error).message;
    if (/full|off|paused|too many/.test(message)) saveKey(null);
    watching(message);
    return;
  }
  heardAt = performance.now();
  saveKey(joined.key);
  idLine.textContent = joined.id;
  leaveButton.hidden = false;
  watchLink.hidden = true;
  say(joined.resumed ? 'you are still a device: welcome back' : 'you are a device in every store');
  clearInterval(beatTimer);
  beatTimer = window.setInterval(beat, joined.heartbeatMs);
  reportedColor = null;
  report();
}

async function beat(): Promise<void> {
  if (!joined || !socket.connected || removed) return;
  beats++;
  const load: BrowserLoad | undefined = beats % LOAD_EVERY_BEATS === 1 ? meter.read() : undefined;
  if (load) loadLine.textContent = `your load: ${browserLoadText(load)}`;
  try {
    const answer = await request<{ registered: boolean }>('beat', load ? { load } : {});
    if (removed) return;
    if (answer.registered) heardAt = performance.now();
    else await join(); // let go while away: join again, same id
  } catch {
    // the next beat tries again; the socket reconnects by itself
  }
}

function paint(color: string | null): void {
  if (color && color !== shownColor) {
    shownColor = color;
    // A color name or hex the stores validated; set as a style value, never as markup.
    document.body.style.background = color;
    const rgb = cssColorRgb(color);
    document.body.dataset.ink = rgb ? inkFor(rgb) : 'light';
    if (joined) navigator.vibrate?.(80);
  }
  report();
}

/** The color shown, written back to this phone's records as a Pi writes back the color it applied. */
function report(): void {
  if (!joined || shownColor === null || shownColor === reportedColor) return;
  const color = shownColor;
  reportedColor = color;
  request('applied', { color }).catch(() => {
    if (reportedColor === color) reportedColor = null; // told again with the next view
  });
}

function storeItem(s: PhoneStore): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.store = s.store;
  item.dataset.state = s.state;
  const name = document.createElement('span');
  name.className = 'store-name';
  name.textContent = `${s.store}: ${s.state}`;
  const model = document.createElement('span');
  model.className = 'store-model';
  model.textContent = s.windowText;
  const bar = document.createElement('div');
  bar.className = 'bar';
  const fill = document.createElement('div');
  fill.className = 'fill';
  bar.append(fill);
  const left = document.createElement('span');
  left.className = 'left';
  item.append(name, model, bar, left);
  bars.set(s.store, { name, fill, left });
  return item;
}

function show(next: PhoneView): void {
  if (joined && next.id !== joined.id) return;
  view = next;
  stores.replaceChildren(...next.stores.map(storeItem));
  drain();
  paint(next.color);
}

/**
 * The bars: each store's time left if no beat arrives from now on (the server's wait for a silent
 * phone, then the store's own window), from the last beat the server answered.
 */
function drain(): void {
  if (!view || !joined) return;
  const quietMs = performance.now() - heardAt;
  for (const s of view.stores) {
    const bar = bars.get(s.store);
    if (!bar) continue;
    const totalMs = view.silentAfterMs + s.windowMs;
    const leftMs = Math.max(0, totalMs - quietMs);
    bar.fill.style.width = `${((leftMs / totalMs) * 100).toFixed(1)}%`;
    const level = leftMs === 0 ? 'gone' : quietMs > view.silentAfterMs ? 'draining' : 'held';
    bar.fill.dataset.level = level;
    // Unheard, the server's last word on the registration is stale: the store's own course is said.
    const end = s.store === 'consul' ? 'critical' : 'gone';
    bar.name.textContent = `${s.store}: ${level === 'held' ? s.state : level === 'gone' ? end : 'expiring'}`;
    bar.left.textContent =
      leftMs === 0
        ? s.store === 'consul'
          ? 'critical in consul by now'
          : `gone from ${s.store} by now`
        : quietMs > view.silentAfterMs
          ? `${(leftMs / 1000).toFixed(1)} s left`
          : 'held: the page beats';
  }
}

async function leave(): Promise<void> {
  clearInterval(beatTimer);
  leaveButton.hidden = true;
  try {
    await request('leave');
    saveKey(null);
    watching('you left: gone from every store');
  } catch (error) {
    saveKey(null);
    watching(
      `could not leave: ${(error as Error).message}; closing this page lets you go when each store's window ends`,
    );
  }
}

socket.on('phone', show);
socket.on('fleet', (glance: FleetGlance) => paint(glance.color));
socket.on('removed', (message: { reason?: unknown }) => {
  removed = true;
  watching(typeof message?.reason === 'string' ? message.reason : 'the presenter removed every phone');
});
socket.on('connect', () => {
  if (!removed) void join();
});
socket.on('disconnect', () => {
  if (joined) say('connection lost: reconnecting… (the stores keep you for their window)');
});
leaveButton.addEventListener('click', () => void leave());
joinButton.addEventListener('click', () => void join());
window.setInterval(drain, 200);
