// On a phone, one store at a time: three tabs (name and device count) above the columns; style.css shows
// only the chosen column on narrow screens and hides the tabs on wide ones, where all three stand side
// by side. The choice is kept in the URL's hash (#store=consul) so that a reload keeps it.
import type { StoreKind } from '../contract.ts';
import { el, setAttr, setText } from './dom.ts';
import { STORE_ORDER } from './state.ts';

const HASH_KEY = 'store';

export function storeFromHash(hash: string): StoreKind {
  const value = new URLSearchParams(hash.replace(/^#/, '')).get(HASH_KEY);
  return (STORE_ORDER as readonly string[]).includes(value ?? '') ? (value as StoreKind) : STORE_ORDER[0]!;
}

export class StoreTabs {
  readonly element: HTMLElement;
  private readonly buttons = new Map<StoreKind, { button: HTMLButtonElement; count: HTMLElement }>();
  current: StoreKind;

  constructor(private readonly chosen: (store: StoreKind) => void) {
    this.current = storeFromHash(window.location.hash);
    this.element = el('nav', 'store-tabs');
    this.element.setAttribute('aria-label', 'stores');
    this.element.setAttribute('role', 'tablist');
    for (const store of STORE_ORDER) {
      const button = el('button', 'store-tab');
      button.type = 'button';
      button.dataset.tab = store;
      button.setAttribute('role', 'tab');
      const count = el('span', 'store-tab-count');
      button.append(el('span', 'store-tab-name', store), count);
      button.addEventListener('click', () => this.choose(store));
      this.buttons.set(store, { button, count });
      this.element.append(button);
    }
    this.render();
  }

  choose(store: StoreKind): void {
    this.current = store;
    const url = new URL(window.location.href);
    const params = new URLSearchParams(url.hash.replace(/^#/, ''));
    params.set(HASH_KEY, store);
    url.hash = params.toString();
    history.replaceState(history.state, '', url.href);
    this.render();
    this.chosen(store);
  }

  /** The count on a tab, with the store's state ("DOWN") when it is not live. */
  setCount(store: StoreKind, text: string): void {
    const entry = this.buttons.get(store);
    if (entry) setText(entry.count, text);
  }

  private render(): void {
    for (const [store, { button }] of this.buttons) {
      setAttr(button, 'aria-selected', store === this.current ? 'true' : 'false');
    }
  }
}
