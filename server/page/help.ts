// The keys overlay (`?`): the presenter's keyboard in a table, the presenter-only ones marked on the
// audience's page; for the presenter also "rotate the presenter token" (the presenter URL was shown to
// the room: the old one turns read-only, the new one is printed in the server's terminal, never here).
// A modal dialog over the page; Esc, `?` or its button closes it.
import type { Ack } from '../contract.ts';
import { el, setAttr, setText } from './dom.ts';
import { KEYS } from './keyboard.ts';

export type RotateToken = () => Promise<Ack<{ where: string }>>;

export class HelpOverlay {
  readonly element: HTMLDialogElement;
  private readonly note: HTMLElement;
  private readonly rotate: HTMLElement;
  private readonly rotateStatus: HTMLElement;

  constructor(send: RotateToken) {
    this.element = el('dialog', 'help');
    this.element.id = 'help';
    this.element.setAttribute('aria-label', 'keyboard');
    const title = el('h2', 'help-title', 'Keys');
    const table = el('table', 'help-keys');
    const body = el('tbody');
    for (const spec of KEYS) {
      const row = el('tr');
      row.dataset.presenterOnly = String(spec.presenterOnly);
      const key = el('th', 'help-key');
      key.scope = 'row';
      key.append(el('kbd', undefined, spec.keys));
      row.append(key, el('td', 'help-does', spec.does));
      body.append(row);
    }
    table.append(body);
    this.note = el('p', 'help-note', 'Marked keys work on the presenter URL only.');
    this.rotate = el('div', 'help-rotate');
    const button = el('button', 'help-rotate-button', 'Rotate the presenter token');
    button.type = 'button';
    button.id = 'rotate-token';
    this.rotateStatus = el(
      'p',
      'help-rotate-status',
      'The presenter URL was shown to the room? Rotate it: every page with it turns read-only; the new URL is printed in the terminal where the server runs.',
    );
    this.rotateStatus.setAttribute('role', 'status');
    button.addEventListener('click', async () => {
      button.disabled = true;
      setText(this.rotateStatus, 'rotating…');
      const result = await send().catch((error: Error) => ({ ok: false as const, error: error.message }));
      setAttr(this.rotateStatus, 'data-kind', result.ok ? 'ok' : 'error');
      setText(
        this.rotateStatus,
        result.ok ? `Rotated: ${result.data.where}.` : `Not rotated: ${result.error}`,
      );
      button.disabled = false;
    });
    this.rotate.append(button, this.rotateStatus);
    this.rotate.hidden = true;
    const close = el('button', 'help-close', 'Close');
    close.type = 'button';
    close.addEventListener('click', () => this.hide());
    this.element.append(title, table, this.note, this.rotate, close);
  }

  setPresenter(presenter: boolean): void {
    this.element.dataset.presenter = String(presenter);
    this.note.hidden = presenter;
    // A page that just rotated keeps its answer on screen; the button goes with the presenter's rights.
    const button = this.rotate.querySelector('button');
    if (button) button.hidden = !presenter;
    if (presenter) this.rotate.hidden = false;
  }

  get open(): boolean {
    return this.element.open;
  }

  toggle(): void {
    if (this.element.open) this.hide();
    else this.element.showModal();
  }

  hide(): void {
    if (this.element.open) this.element.close();
  }
}
