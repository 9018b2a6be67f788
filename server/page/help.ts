// The keys overlay (`?`): the presenter's keyboard in a table, the presenter-only ones marked on the
// audience's page. A modal dialog over the page; Esc, `?` or its button closes it.
import { el } from './dom.ts';
import { KEYS } from './keyboard.ts';

export class HelpOverlay {
  readonly element: HTMLDialogElement;
  private readonly note: HTMLElement;

  constructor() {
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
    const close = el('button', 'help-close', 'Close');
    close.type = 'button';
    close.addEventListener('click', () => this.hide());
    this.element.append(title, table, this.note, close);
  }

  setPresenter(presenter: boolean): void {
    this.element.dataset.presenter = String(presenter);
    this.note.hidden = presenter;
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
