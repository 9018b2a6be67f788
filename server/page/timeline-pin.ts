// The timeline's tools: the download links (every entry the server keeps, as CSV or JSON), the entry the
// presenter pinned above the list (shown to everyone), and the pin request a presenter's click sends.
// The request leaves as a DOM event that main.ts answers with the socket, so the timeline needs no
// socket of its own.
import type { TimelineEntry } from '../contract.ts';
import { el, setAttr, setHidden, setText } from './dom.ts';

export const PIN_EVENT = 'fleetkit:pin';

export interface PinRequest {
  /** An entry's seq, or null to unpin. */
  seq: number | null;
  /** Called with the server's refusal, or null when done. */
  done: (error: string | null) => void;
}

/** Asks for a pin from an element of the page (main.ts listens on the root). */
export function requestPin(from: HTMLElement, request: PinRequest): void {
  from.dispatchEvent(new CustomEvent<PinRequest>(PIN_EVENT, { bubbles: true, detail: request }));
}

export function downloadLinks(): HTMLElement {
  const links = el('span', 'timeline-download');
  links.append('download: ');
  for (const [href, text, title] of [
    ['/timeline.csv', 'CSV', 'every event the server keeps, for a spreadsheet'],
    ['/timeline.json', 'JSON', 'every event the server keeps, as JSON'],
  ] as const) {
    const link = el('a', 'timeline-link', text);
    link.href = href;
    link.title = title;
    link.setAttribute('download', '');
    links.append(link, ' ');
  }
  return links;
}

/** The pinned entry above the list (hidden when none); the presenter gets an "unpin" button. */
export class PinnedBox {
  readonly element: HTMLElement;
  private readonly slot: HTMLElement;
  private readonly unpin: HTMLButtonElement;
  private readonly message: HTMLElement;
  private shownSeq: number | null = null;

  constructor() {
    this.element = el('div', 'timeline-pinned');
    this.element.id = 'timeline-pinned';
    this.element.setAttribute('aria-label', 'pinned event');
    this.slot = el('div', 'pinned-entry');
    this.unpin = el('button', 'event-unpin', 'unpin');
    this.unpin.type = 'button';
    this.unpin.addEventListener('click', () => this.pin(null));
    this.message = el('p', 'pin-message');
    this.message.setAttribute('role', 'status');
    this.message.hidden = true;
    this.element.append(el('span', 'pinned-label', 'pinned'), this.slot, this.unpin);
    this.element.hidden = true;
  }

  /** The status line under the list's title, where a refused pin says why. */
  get status(): HTMLElement {
    return this.message;
  }

  show(entry: TimelineEntry | null, render: (entry: TimelineEntry) => HTMLElement): void {
    setHidden(this.element, entry === null);
    const seq = entry?.seq ?? null;
    if (seq === this.shownSeq) return;
    this.shownSeq = seq;
    this.slot.replaceChildren(...(entry ? [render(entry)] : []));
  }

  /** Sends a pin (or unpin: null) and shows a refusal. */
  pin(seq: number | null): void {
    setHidden(this.message, true);
    requestPin(this.element, {
      seq,
      done: (error) => {
        setText(this.message, error ? `not pinned: ${error}` : '');
        setAttr(this.message, 'data-kind', error ? 'error' : null);
        setHidden(this.message, error === null);
      },
    });
  }
}
