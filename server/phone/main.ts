// The phone's page at /join: the phone becomes a device as soon as it loads (the control host registers
// it in every store while this page heartbeats), shows the fleet's color full screen, and says how each
// store holds it. Everything from the server is shown as text (textContent), never as HTML.
import { io } from 'socket.io-client';
import { AUDIENCE_NAMESPACE, type JoinAnswer, type PhoneView } from '../audience-contract.ts';
import type { Ack } from '../contract.ts';
import { inkFor } from '../page/contrast.ts';
import { cssColorRgb } from '../page/dom.ts';

const KEY_ITEM = 'fleetkit-phone-key';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const idLine = el<HTMLElement>('phone-id');
const status = el<HTMLElement>('phone-status');
const stores = el<HTMLUListElement>('phone-stores');
const leaveButton = el<HTMLButtonElement>('phone-leave');
const joinButton = el<HTMLButtonElement>('phone-join');

const socket = io(AUDIENCE_NAMESPACE, { transports: ['websocket', 'polling'] });
let joined: JoinAnswer | null = null;
let beatTimer: number | undefined;
let shownColor: string | null = null;

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

async function join(): Promise<void> {
  joinButton.hidden = true;
  say('joining the fleet…');
  try {
    const key = savedKey();
    joined = await request<JoinAnswer>('join', key === undefined ? {} : { key });
  } catch (error) {
    say((error as Error).message);
    if (/full|off|too many/.test((error as Error).message)) saveKey(null);
    joinButton.hidden = false;
    return;
  }
  saveKey(joined.key);
  idLine.textContent = joined.id;
  leaveButton.hidden = false;
  say(joined.resumed ? 'you are still a device: welcome back' : 'you are a device in every store');
  clearInterval(beatTimer);
  beatTimer = window.setInterval(beat, joined.heartbeatMs);
}

async function beat(): Promise<void> {
  if (!joined || !socket.connected) return;
  try {
    const answer = await request<{ registered: boolean }>('beat');
    if (!answer.registered) await join(); // let go while away: join again, same id
  } catch {
    // the next beat tries again; the socket reconnects by itself
  }
}

function show(view: PhoneView): void {
  if (joined && view.id !== joined.id) return;
  stores.replaceChildren(
    ...view.stores.map((s) => {
      const item = document.createElement('li');
      item.textContent = `${s.store}: ${s.state}`;
      item.dataset.state = s.state;
      return item;
    }),
  );
  if (view.color && view.color !== shownColor) {
    shownColor = view.color;
    // A color name or hex the stores validated; set as a style value, never as markup.
    document.body.style.background = view.color;
    const rgb = cssColorRgb(view.color);
    document.body.dataset.ink = rgb ? inkFor(rgb) : 'light';
    navigator.vibrate?.(80);
    request('applied', { color: view.color }).catch(() => undefined);
  }
}

async function leave(): Promise<void> {
  clearInterval(beatTimer);
  leaveButton.hidden = true;
  try {
    await request('leave');
    say('you left: gone from every store');
  } catch (error) {
    say(
      `could not leave: ${(error as Error).message}; closing this page lets you go when each store's window ends`,
    );
  }
  joined = null;
  saveKey(null);
  idLine.textContent = '';
  stores.replaceChildren();
  joinButton.hidden = false;
}

socket.on('phone', show);
socket.on('connect', () => void join());
socket.on('disconnect', () => say('connection lost: reconnecting… (the stores keep you for their window)'));
leaveButton.addEventListener('click', () => void leave());
joinButton.addEventListener('click', () => void join());
