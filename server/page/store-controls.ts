// The stores' own processes in each column header, when the kit started them (StoreView.control): for
// everyone, the members with the leader marked and what happened to each ("m1 killed"); for the
// presenter, "kill the leader" in one click, "restart m1" for each member that is down, and the rest
// (stop / kill / restart of each member or the whole store) folded under "more". While an action runs
// the header says so, counting seconds; after a kill it says who was elected and how long that took.
// Stores the kit did not start have no buttons, and the presenter is told why.
import type {
  Ack,
  KitStore,
  StoreControlAction,
  StoreControlRequest,
  StoreKind,
  StoreView,
} from '../contract.ts';
import { el, setAttr, setHidden, setText } from './dom.ts';
import { leaderMember, type MemberRow, memberRows } from './store-members.ts';

export type StoreControlResult = Ack<KitStore>;

const DOING: Record<StoreControlAction, string> = {
  stop: 'stopping',
  kill: 'killing',
  restart: 'restarting',
};
const DONE: Record<StoreControlAction, string> = { stop: 'stopped', kill: 'killed', restart: 'restarted' };
const TITLES: Record<StoreControlAction, string> = {
  stop: 'SIGTERM: it shuts down cleanly',
  kill: 'SIGKILL: no goodbye, as when a machine loses power',
  restart: 'start it again with its data; it rejoins its cluster',
};
/** How often the seconds of a running action are redrawn. */
const PROGRESS_EVERY_MS = 200;

interface Pending {
  request: StoreControlRequest;
  text: string;
  startedAt: number;
}

interface AfterKill {
  at: number;
  /** The leader before the action (null: none known). */
  before: number | null;
  /** "m1 was killed" */
  cause: string;
}

/**
 * The page's one sender of store actions and its presenter flag. A module-level instance (below), so
 * that each column's panel finds it without the view passing it down (main.ts sets both).
 */
export class StoreControlHub {
  presenter = false;
  private send: ((request: StoreControlRequest) => Promise<StoreControlResult>) | null = null;
  private readonly panels = new Set<StorePanel>();

  connect(send: (request: StoreControlRequest) => Promise<StoreControlResult>): void {
    this.send = send;
  }

  setPresenter(presenter: boolean): void {
    if (presenter === this.presenter) return;
    this.presenter = presenter;
    for (const panel of this.panels) panel.redraw();
  }

  add(panel: StorePanel): void {
    this.panels.add(panel);
  }

  request(request: StoreControlRequest): Promise<StoreControlResult> {
    if (!this.send) return Promise.resolve({ ok: false, error: 'the page is not connected yet' });
    return this.send(request).catch((error: unknown) => ({
      ok: false as const,
      error: error instanceof Error ? error.message : String(error),
    }));
  }
}

export const storeControls = new StoreControlHub();

const memberLabel = (row: MemberRow, busy: StoreControlAction | null): string => {
  if (busy) return `${row.name} ${DOING[busy]}…`;
  if (row.state !== 'running') return `${row.name} ${row.state}`;
  if (row.role === 'leader') return `${row.name} ★ leader`;
  return row.role && row.role !== 'unknown' ? `${row.name} ${row.role}` : `${row.name} running`;
};

/** One column's part: members, buttons (presenter), a status line. */
export class StorePanel {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly actions: HTMLElement;
  private readonly more: HTMLDetailsElement;
  private readonly moreBody: HTMLElement;
  private readonly status: HTMLElement;
  private readonly note: HTMLElement;
  private readonly buttons = new Map<string, HTMLButtonElement>();
  private view: StoreView | undefined;
  private pending: Pending | null = null;
  private progress: ReturnType<typeof setInterval> | undefined;
  private afterKill: AfterKill | null = null;

  constructor(
    private readonly store: StoreKind,
    private readonly hub: StoreControlHub = storeControls,
  ) {
    this.element = el('div', 'store-controls');
    this.list = el('ul', 'kit-members');
    this.list.setAttribute('aria-label', `${store} members`);
    this.actions = el('div', 'store-actions');
    this.actions.setAttribute('role', 'group');
    this.actions.setAttribute('aria-label', `${store} store controls`);
    this.more = el('details', 'store-more');
    this.more.append(el('summary', 'store-more-summary', 'more'));
    this.moreBody = el('div', 'store-more-body');
    this.more.append(this.moreBody);
    this.status = el('p', 'store-control-status');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.note = el(
      'p',
      'store-control-note',
      'read-only: these stores were not started by the kit (npm run demo, fleetkit stores), so the page cannot stop them',
    );
    this.note.title = this.note.textContent ?? '';
    this.element.append(this.list, this.actions, this.status, this.note);
    hub.add(this);
    this.redraw();
  }

  /** True when the kit's members are shown here (the column then hides its plain member list). */
  get showsMembers(): boolean {
    return Boolean(this.view?.control);
  }

  update(view: StoreView | undefined): void {
    this.view = view;
    this.redraw();
    this.checkElection();
  }

  redraw(): void {
    const control = this.view?.control ?? null;
    const presenter = this.hub.presenter;
    const rows = memberRows(this.view);
    setHidden(this.element, !control && !(presenter && this.view));
    setHidden(this.note, control !== null || !presenter);
    setHidden(this.list, !control);
    this.list.replaceChildren(
      ...rows.map((row) => {
        const item = el('li', 'kit-member', memberLabel(row, row.busy));
        item.dataset.member = String(row.member);
        item.dataset.state = row.state;
        setAttr(item, 'data-role', row.role);
        setAttr(item, 'data-busy', row.busy);
        item.title = `${row.endpoint}${row.pid ? ` · pid ${row.pid}` : ''}`;
        return item;
      }),
    );
    const controls = presenter && control !== null;
    setHidden(this.actions, !controls);
    setHidden(this.status, !controls || this.status.textContent === '');
    if (!controls) return;
    this.drawButtons(rows);
  }

  private drawButtons(rows: MemberRow[]): void {
    const busy = this.pending !== null || rows.some((row) => row.busy !== null);
    const cluster = rows.length > 1;
    const main: HTMLElement[] = [];
    if (cluster) {
      const leader = leaderMember(this.view);
      main.push(
        this.button(
          'kill-leader',
          leader === null ? 'kill the leader (none yet)' : `kill the leader (m${leader})`,
          `${TITLES.kill}: the others elect a new leader`,
          busy || leader === null,
          () => leader !== null && this.run({ store: this.store, member: leader, action: 'kill' }, true),
        ),
      );
      for (const row of rows.filter((r) => r.state !== 'running'))
        main.push(
          this.button(`restart-${row.member}`, `restart ${row.name}`, TITLES.restart, busy, () =>
            this.run({ store: this.store, member: row.member, action: 'restart' }),
          ),
        );
    } else {
      const running = rows[0]?.state === 'running';
      for (const action of ['stop', 'kill', 'restart'] as const)
        main.push(
          this.button(
            `store-${action}`,
            `${action} ${this.store}`,
            TITLES[action],
            busy || (action !== 'restart' && !running),
            () => this.run({ store: this.store, action }),
          ),
        );
    }
    if (cluster) main.push(this.more);
    this.actions.replaceChildren(...main);
    if (!cluster) return;
    const lines = rows.map((row) => this.line(row.name, busy, row.state === 'running', row.member));
    lines.push(
      this.line(
        'whole store',
        busy,
        rows.some((row) => row.state === 'running'),
      ),
    );
    this.moreBody.replaceChildren(...lines);
  }

  /** "m2: stop kill restart" (or the whole store's) under "more". */
  private line(label: string, busy: boolean, running: boolean, member?: number): HTMLElement {
    const line = el('div', 'store-more-line');
    line.append(el('span', 'store-more-label', label));
    const key = member === undefined ? 'all' : `m${member}`;
    for (const action of ['stop', 'kill', 'restart'] as const) {
      line.append(
        this.button(
          `${key}-${action}`,
          action,
          `${action} ${member === undefined ? `every member of ${this.store}` : label}: ${TITLES[action]}`,
          busy || (action !== 'restart' && !running),
          () => this.run({ store: this.store, ...(member === undefined ? {} : { member }), action }),
        ),
      );
    }
    return line;
  }

  /** A button kept across redraws (a redraw under the pointer must not swallow a click). */
  private button(
    key: string,
    label: string,
    title: string,
    disabled: boolean,
    onClick: () => void,
  ): HTMLButtonElement {
    let button = this.buttons.get(key);
    if (!button) {
      button = el('button', 'store-button');
      button.type = 'button';
      button.dataset.storeAction = key;
      this.buttons.set(key, button);
    }
    setText(button, label);
    setAttr(button, 'title', title);
    setAttr(button, 'aria-label', `${label} (${this.store})`);
    button.disabled = disabled;
    button.onclick = onClick;
    return button;
  }

  private async run(request: StoreControlRequest, leader = false): Promise<void> {
    if (this.pending) return;
    const target = request.member === undefined ? this.store : `m${request.member}`;
    const text = `${DOING[request.action]} ${target}${leader ? ' (the leader)' : ''}`;
    const before = leaderMember(this.view);
    this.pending = { request, text, startedAt: Date.now() };
    this.afterKill = null;
    this.showStatus('pending', `${text}…`);
    this.progress = setInterval(() => this.showProgress(), PROGRESS_EVERY_MS);
    this.redraw();
    const result = await this.hub.request(request);
    clearInterval(this.progress);
    const startedAt = this.pending.startedAt;
    const took = ((Date.now() - startedAt) / 1000).toFixed(1);
    this.pending = null;
    if (!result.ok) {
      this.showStatus('error', `${request.action} ${target} failed: ${result.error}`);
    } else {
      const cluster = (this.view?.members.length ?? 0) > 1 && (this.view?.control?.members.length ?? 0) > 1;
      const electing =
        cluster &&
        request.action !== 'restart' &&
        (request.member === before || request.member === undefined);
      this.showStatus(
        'ok',
        `${target} ${DONE[request.action]} in ${took} s${electing ? '; the others are electing a leader…' : ''}`,
      );
      if (electing)
        this.afterKill = { at: startedAt, before, cause: `${target} was ${DONE[request.action]}` };
    }
    this.redraw();
    this.checkElection();
  }

  private showProgress(): void {
    if (!this.pending) return;
    const seconds = ((Date.now() - this.pending.startedAt) / 1000).toFixed(1);
    const wait =
      this.pending.request.action === 'restart'
        ? ' (a member rejoining its cluster takes a few seconds)'
        : '';
    this.showStatus('pending', `${this.pending.text}… ${seconds} s${wait}`);
  }

  /** After a kill or stop of the leader: the first new leader, said with the time it took. */
  private checkElection(): void {
    const after = this.afterKill;
    if (!after) return;
    const leader = leaderMember(this.view);
    if (leader === null || leader === after.before) return;
    this.afterKill = null;
    const seconds = ((Date.now() - after.at) / 1000).toFixed(1);
    const down = memberRows(this.view).filter((row) => row.state !== 'running');
    const next =
      down.length > 0 ? `; restart ${down.map((row) => row.name).join(', ')} to bring it back` : '';
    this.showStatus('ok', `m${leader} leads now (seen ${seconds} s after ${after.cause})${next}`);
  }

  private showStatus(kind: 'pending' | 'ok' | 'error', text: string): void {
    setAttr(this.status, 'data-kind', kind);
    setText(this.status, text);
    setHidden(this.status, text === '' || !this.hub.presenter);
  }
}
