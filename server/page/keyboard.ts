// The presenter's keyboard (a clicker or a laptop on stage): number keys pick a palette color, A applies
// it, the arrows move the selection between tiles as they sit on screen, U / R / K unplug, replug and
// kill the selected simulated device, F toggles full screen, ? shows the keys, Esc closes. Keys typed
// into a field are the field's. The audience's page takes the viewing keys only (arrows, F, ?, Esc).

export type Direction = 'left' | 'right' | 'up' | 'down';

export interface KeyActions {
  /** This connection may change things (the presenter URL). */
  presenter(): boolean;
  choose(n: number): void;
  apply(): void;
  move(direction: Direction): void;
  simulate(action: 'unplug' | 'replug' | 'kill'): void;
  fullScreen(): void;
  help(): void;
  escape(): void;
  /** A presenter key pressed on a read-only page: say so. */
  readOnly(key: string): void;
}

export interface KeySpec {
  keys: string;
  does: string;
  presenterOnly: boolean;
}

/** The help overlay's table, in the order it lists them. */
export const KEYS: readonly KeySpec[] = [
  { keys: '1 – 9', does: 'choose a palette color', presenterOnly: true },
  { keys: 'A', does: 'apply the chosen color to the stores', presenterOnly: true },
  { keys: '← ↑ → ↓', does: 'select a device (its details open)', presenterOnly: false },
  { keys: 'U', does: 'unplug the selected simulated device', presenterOnly: true },
  { keys: 'R', does: 'replug (or restart) it', presenterOnly: true },
  { keys: 'K', does: 'kill its process', presenterOnly: true },
  { keys: 'F', does: 'full screen on / off', presenterOnly: false },
  { keys: '?', does: 'these keys', presenterOnly: false },
  { keys: 'Esc', does: 'close the details and this help', presenterOnly: false },
];

const ARROWS: Record<string, Direction> = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
};

const SIM_KEYS: Record<string, 'unplug' | 'replug' | 'kill'> = { u: 'unplug', r: 'replug', k: 'kill' };

/** True when the key belongs to what has focus (a text field, a select, an editable element). */
function typingInto(target: EventTarget | null): boolean {
  const element = target as { tagName?: unknown; type?: unknown; isContentEditable?: unknown } | null;
  if (!element || typeof element.tagName !== 'string') return false;
  if (element.isContentEditable === true) return true;
  const tag = element.tagName.toUpperCase();
  if (tag === 'SELECT' || tag === 'TEXTAREA') return true;
  return tag === 'INPUT' && element.type !== 'color' && element.type !== 'button';
}

/** What one key does; returns whether it was ours (then the browser's default is prevented). */
export function handleKey(
  event: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'target'>,
  actions: KeyActions,
): boolean {
  if (event.ctrlKey || event.metaKey || event.altKey) return false;
  if (typingInto(event.target)) return false;
  const { key } = event;
  const direction = ARROWS[key];
  if (direction) {
    actions.move(direction);
    return true;
  }
  if (key === 'Escape') {
    actions.escape();
    return true;
  }
  if (key === '?') {
    actions.help();
    return true;
  }
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (lower === 'f') {
    actions.fullScreen();
    return true;
  }
  const presenterKey = /^[1-9]$/.test(key) || lower === 'a' || Object.hasOwn(SIM_KEYS, lower);
  if (!presenterKey) return false;
  if (!actions.presenter()) {
    actions.readOnly(key);
    return true;
  }
  if (/^[1-9]$/.test(key)) actions.choose(Number(key));
  else if (lower === 'a') actions.apply();
  else actions.simulate(SIM_KEYS[lower]!);
  return true;
}

/** The nearest rectangle from `from` in `direction` (centres compared; off-axis distance weighs more). */
export function nearestInDirection<T>(
  from: DOMRectReadOnly,
  candidates: readonly { item: T; rect: DOMRectReadOnly }[],
  direction: Direction,
): T | undefined {
  const cx = from.left + from.width / 2;
  const cy = from.top + from.height / 2;
  let best: T | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const { item, rect } of candidates) {
    const x = rect.left + rect.width / 2 - cx;
    const y = rect.top + rect.height / 2 - cy;
    const along = direction === 'left' ? -x : direction === 'right' ? x : direction === 'up' ? -y : y;
    const across = direction === 'left' || direction === 'right' ? Math.abs(y) : Math.abs(x);
    if (along <= 1) continue;
    const score = along + across * 2;
    if (score < bestScore) {
      bestScore = score;
      best = item;
    }
  }
  return best;
}
