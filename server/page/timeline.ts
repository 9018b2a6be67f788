// The event timeline, newest first: when, which store, what happened (with its measured latency) and
// the plain store command behind it, in a <code> a learner can copy.
import type { TimelineEntry } from '../contract.ts';
import { el } from './dom.ts';
import { formatClock } from './format.ts';

/** How many events the page shows (the server keeps 200). */
const SHOWN = 50;

export class Timeline {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLElement;

  constructor() {
    this.element = el('section', 'timeline');
    this.element.id = 'timeline';
    this.element.setAttribute('aria-label', 'events');
    const title = el('h2', 'timeline-title', 'Events');
    this.empty = el('p', 'timeline-empty', 'No events yet.');
    this.list = el('ol', 'events');
    this.element.append(title, this.empty, this.list);
  }

  /** All events (oldest first), as in a snapshot. */
  replace(entries: TimelineEntry[], toLocal: (serverMs: number) => number): void {
    const newestFirst = entries.slice(-SHOWN).reverse();
    this.list.replaceChildren(...newestFirst.map((entry) => this.item(entry, toLocal)));
    this.empty.hidden = newestFirst.length > 0;
  }

  /** New events (oldest first), as in a batch of changes. */
  add(entries: TimelineEntry[], toLocal: (serverMs: number) => number): void {
    if (entries.length === 0) return;
    const newestFirst = entries.slice(-SHOWN).reverse();
    this.list.prepend(...newestFirst.map((entry) => this.item(entry, toLocal)));
    while (this.list.childElementCount > SHOWN) this.list.lastElementChild?.remove();
    this.empty.hidden = true;
  }

  private item(entry: TimelineEntry, toLocal: (serverMs: number) => number): HTMLLIElement {
    const item = el('li', 'event');
    item.dataset.kind = entry.kind;
    item.dataset.seq = String(entry.seq);
    const time = el('time', 'event-time', formatClock(toLocal(entry.at)));
    if (Number.isFinite(entry.at)) time.dateTime = new Date(toLocal(entry.at)).toISOString();
    const store = el('span', 'event-store', entry.store ?? 'fleet');
    if (entry.store) store.dataset.eventStore = entry.store;
    const text = el('span', 'event-text', entry.text);
    item.append(time, store, text);
    if (entry.command) item.append(el('code', 'event-command', entry.command));
    return item;
  }
}
