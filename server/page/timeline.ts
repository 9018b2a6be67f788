// The event timeline, newest first: when, which store, what happened (with its measured latency) and
// the plain store command behind it, in a <code> a learner can copy. Above it the download links and
// the entry the presenter pinned (timeline-pin.ts); entries from before the server's restart are marked.
import type { TimelineEntry } from '../contract.ts';
import { el, setAttr } from './dom.ts';
import { formatClock } from './format.ts';
import { downloadLinks, PinnedBox } from './timeline-pin.ts';

/** How many events the page shows (the server keeps 200). */
const SHOWN = 50;

export class Timeline {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLElement;
  private readonly pinned = new PinnedBox();
  private toLocal: (serverMs: number) => number = (at) => at;

  constructor() {
    this.element = el('section', 'timeline');
    this.element.id = 'timeline';
    this.element.setAttribute('aria-label', 'events');
    const title = el('h2', 'timeline-title', 'Events');
    const top = el('div', 'timeline-top');
    top.append(title, downloadLinks());
    this.empty = el('p', 'timeline-empty', 'No events yet.');
    this.list = el('ol', 'events');
    // A presenter's click on an entry's pin button (shown only to the presenter: timeline.css).
    this.list.addEventListener('click', (event) => {
      const button = (event.target as Element | null)?.closest?.('.event-pin');
      const seq = Number((button?.closest('.event') as HTMLElement | null)?.dataset.seq);
      if (button && Number.isSafeInteger(seq)) this.pinned.pin(seq);
    });
    this.element.append(top, this.pinned.element, this.pinned.status, this.empty, this.list);
  }

  /** The pinned entry (null: none); `presenter`: this page may pin and unpin. */
  setPinned(entry: TimelineEntry | null, presenter: boolean): void {
    setAttr(this.element, 'data-presenter', presenter ? 'true' : null);
    this.pinned.show(entry, (pinned) => this.item(pinned, this.toLocal));
  }

  /** All events (oldest first), as in a snapshot. */
  replace(entries: TimelineEntry[], toLocal: (serverMs: number) => number): void {
    this.toLocal = toLocal;
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
    // The presenter's pin button leads the row (timeline.css gives it a column; the audience has none).
    const pin = el('button', 'event-pin', 'pin');
    pin.type = 'button';
    pin.title = 'pin this event above the list, for everyone';
    item.append(pin, time, store, text);
    // Inside the text's cell and before the text, so that a row cut short on the projector keeps it.
    if (entry.beforeRestart === true) {
      item.dataset.beforeRestart = 'true';
      const mark = el('span', 'event-earlier', 'before restart');
      mark.title = "from before the server's last restart (kept in its timeline file)";
      text.prepend(mark, ' ');
    }
    if (entry.command) item.append(el('code', 'event-command', entry.command));
    return item;
  }
}
