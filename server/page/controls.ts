// The presenter's controls: a color picker, the palette, which store(s) to write, and the answer of the
// server (its error, or what was written) in a status line. Only built for a presenter connection.
import type { Ack, SetColorRequest, StoreKind } from '../contract.ts';
import { el, setAttr, setBackground, setText } from './dom.ts';
import { STORE_ORDER } from './state.ts';

export type SetColorResult = Ack<{ stores: StoreKind[] }>;

/** Shows the answer to one request in the status line (#message). */
export type Report = (kind: 'ok' | 'error', text: string) => void;

export interface ControlsOptions {
  palette: string[];
  send: (request: SetColorRequest) => Promise<SetColorResult>;
}

const HEX_COLOR = /^#[0-9a-f]{6}$/i;

export class Controls {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly store: HTMLSelectElement;
  private readonly palette: HTMLElement;
  private readonly message: HTMLElement;
  private paletteShown = '';
  /** Only the answer to the latest request is shown. */
  private requestSeq = 0;

  constructor(private readonly options: ControlsOptions) {
    this.element = el('div', 'controls');
    this.element.id = 'controls';
    this.element.setAttribute('aria-label', 'presenter controls');

    this.input = el('input', 'color-input');
    this.input.type = 'color';
    this.input.id = 'color-input';
    this.input.value = '#ff8800';
    const inputLabel = el('label', 'control-label', 'color');
    inputLabel.htmlFor = this.input.id;

    this.store = el('select', 'color-store');
    this.store.id = 'color-store';
    this.store.append(new Option('all stores', 'all'), ...STORE_ORDER.map((s) => new Option(s, s)));
    const storeLabel = el('label', 'control-label', 'in');
    storeLabel.htmlFor = this.store.id;

    const apply = el('button', 'color-apply', 'Apply');
    apply.id = 'color-apply';
    apply.type = 'button';
    apply.addEventListener('click', () => this.apply(this.input.value));

    this.palette = el('div', 'palette');
    this.palette.setAttribute('role', 'group');
    this.palette.setAttribute('aria-label', 'palette');
    this.message = el('p', 'message');
    this.message.id = 'message';
    this.message.setAttribute('role', 'status');
    this.message.setAttribute('aria-live', 'polite');

    const picker = el('div', 'picker');
    picker.append(inputLabel, this.input, storeLabel, this.store, apply);
    this.element.append(picker, this.palette, this.message);
    this.setPalette(options.palette);
  }

  setPalette(colors: string[]): void {
    const shown = JSON.stringify(colors);
    if (shown === this.paletteShown) return;
    this.paletteShown = shown;
    this.palette.replaceChildren(
      ...colors.map((color) => {
        const button = el('button', 'swatch-button');
        button.type = 'button';
        button.dataset.color = color;
        button.title = color;
        button.setAttribute('aria-label', `apply ${color}`);
        setBackground(button, color);
        button.addEventListener('click', () => {
          if (HEX_COLOR.test(color)) this.input.value = color.toLowerCase();
          void this.apply(color);
        });
        return button;
      }),
    );
  }

  /** The palette's color number `n` (1-based, the presenter's number keys) into the picker; false if none. */
  choose(n: number): boolean {
    const button = this.palette.children[n - 1] as HTMLElement | undefined;
    const color = button?.dataset.color;
    if (!color || !HEX_COLOR.test(color)) return false;
    this.input.value = color.toLowerCase();
    for (const other of this.palette.children)
      setAttr(other, 'aria-pressed', other === button ? 'true' : 'false');
    this.show('pending', `${color} chosen: press A to apply it`);
    return true;
  }

  /** A word in the status line that answers no request (a key that could not act). */
  tell(kind: 'ok' | 'error', text: string): void {
    this.requestSeq++;
    this.show(kind, text);
  }

  /** Applies the picker's color (the presenter's A key). */
  applyChosen(): void {
    void this.apply(this.input.value);
  }

  /**
   * Shows that a request is under way in the status line; returns how to show its answer, which is
   * dropped once a newer request has started (the line always tells about the latest one).
   */
  begin(pendingText: string): Report {
    const seq = ++this.requestSeq;
    this.show('pending', pendingText);
    return (kind, text) => {
      if (seq === this.requestSeq) this.show(kind, text);
    };
  }

  private async apply(color: string): Promise<void> {
    const store = this.store.value as StoreKind | 'all';
    const report = this.begin(`setting ${color}…`);
    let result: SetColorResult;
    try {
      result = await this.options.send({ color, store });
    } catch (error) {
      result = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if (result.ok) {
      const stores = result.data.stores;
      report('ok', `${color} written to ${stores.length > 0 ? stores.join(', ') : 'no store'}`);
    } else {
      report('error', `color ${color} not applied: ${result.error}`);
    }
  }

  private show(kind: 'pending' | 'ok' | 'error', text: string): void {
    setAttr(this.message, 'data-kind', kind);
    setText(this.message, text);
  }
}
