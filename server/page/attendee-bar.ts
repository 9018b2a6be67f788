// The classroom's bar above the columns: which attendee's devices to show (a select listing each
// attendee with their device count, "all" first), a line saying what is shown, and the count per
// attendee as chips (folded: 40 of them would take a projector's rows; open, a chip shows that attendee).
// Hidden while no device carries the attendee label, unless a filter is on (so that it can be turned off).
import { type AttendeeCount, type AttendeeFilter, NO_ATTENDEE } from './attendees.ts';
import { el, setHidden, setText } from './dom.ts';

const ALL = 'all';
/** Option values: ALL, or "=" + the attendee ("=" alone: the devices without one), so no name is ALL. */
const optionValue = (filter: AttendeeFilter) => (filter === null ? ALL : `=${filter}`);
const filterOf = (value: string): AttendeeFilter => (value === ALL ? null : value.slice(1));

const plural = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
const nameOf = (attendee: string) => (attendee === NO_ATTENDEE ? 'no attendee' : attendee);

export class AttendeeBar {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly summary: HTMLElement;
  private readonly chips: HTMLUListElement;
  private shown = '';

  constructor(private readonly choose: (filter: AttendeeFilter) => void) {
    this.element = el('section', 'attendees');
    this.element.id = 'attendees';
    this.element.setAttribute('aria-label', 'attendees');
    this.select = el('select', 'attendee-select');
    this.select.id = 'attendee-filter';
    const label = el('label', 'control-label', 'show attendee');
    label.htmlFor = this.select.id;
    this.summary = el('p', 'attendee-summary');
    this.summary.setAttribute('role', 'status');
    this.select.addEventListener('change', () => this.choose(filterOf(this.select.value)));
    const details = el('details', 'attendee-counts');
    details.append(el('summary', 'attendee-counts-title', 'devices per attendee'));
    this.chips = el('ul', 'attendee-chips');
    details.append(this.chips);
    this.element.append(label, this.select, this.summary, details);
    this.element.hidden = true;
  }

  /** The counts and the filter now; the options are rebuilt only when either changed. */
  update(counts: AttendeeCount[], total: number, hasLabel: boolean, filter: AttendeeFilter): void {
    setHidden(this.element, !hasLabel && filter === null);
    const listed =
      filter === null || counts.some((c) => c.attendee === filter)
        ? counts
        : [...counts, { attendee: filter, devices: 0 }];
    const attendees = counts.filter((c) => c.attendee !== NO_ATTENDEE).length;
    const shown = JSON.stringify([listed, total, filter]);
    if (shown === this.shown) return;
    this.shown = shown;
    const all = new Option(`all: ${plural(attendees, 'attendee')}, ${plural(total, 'device')}`, ALL);
    this.select.replaceChildren(
      all,
      ...listed.map(
        ({ attendee, devices }) =>
          new Option(`${nameOf(attendee)} · ${plural(devices, 'device')}`, optionValue(attendee)),
      ),
    );
    this.select.value = optionValue(filter);
    this.chips.replaceChildren(...listed.map((count) => this.chip(count, count.attendee === filter)));
    const current = listed.find((c) => c.attendee === filter);
    setText(
      this.summary,
      filter === null || !current
        ? `${plural(attendees, 'attendee')} · ${plural(total, 'device')}`
        : `showing ${nameOf(filter)}: ${plural(current.devices, 'device')} of ${total.toLocaleString('en')}`,
    );
  }

  private chip({ attendee, devices }: AttendeeCount, current: boolean): HTMLLIElement {
    const item = el('li', 'attendee-chip');
    const button = el('button', 'attendee-button');
    button.type = 'button';
    button.dataset.attendee = attendee;
    button.append(
      el('span', 'attendee-name', nameOf(attendee)),
      el('span', 'attendee-count', String(devices)),
    );
    button.setAttribute('aria-label', `show ${nameOf(attendee)}: ${plural(devices, 'device')}`);
    button.setAttribute('aria-pressed', String(current));
    button.addEventListener('click', () => this.choose(current ? null : attendee));
    item.append(button);
    return item;
  }
}
