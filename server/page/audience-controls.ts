// The presenter's two audience buttons, beside the header's "be a device" link: pause (or open)
// joining, and remove every phone at once (asked twice: a second click within a few seconds). Shown
// only to the presenter while phones may join; the server checks the token again for each request.
import type { Ack } from '../contract.ts';
import { el, setHidden, setText } from './dom.ts';

/** How long "remove all" waits for its second click. */
const CONFIRM_MS = 4000;

export interface AudienceRequests {
  joining: (joining: boolean) => Promise<Ack<{ joining: boolean }>>;
  removeAll: () => Promise<Ack<{ removed: number }>>;
}

export class AudienceControls {
  readonly element: HTMLElement;
  private readonly pause: HTMLButtonElement;
  private readonly remove: HTMLButtonElement;
  private readonly said: HTMLElement;
  private joining = true;
  private armedUntil = 0;
  private phones = 0;

  constructor(private readonly send: AudienceRequests) {
    this.element = el('span', 'audience-controls');
    this.pause = el('button', 'audience-pause');
    this.pause.type = 'button';
    this.remove = el('button', 'audience-remove');
    this.remove.type = 'button';
    this.said = el('span', 'audience-said');
    this.said.setAttribute('role', 'status');
    this.element.append(this.pause, this.remove, this.said);
    this.pause.addEventListener('click', () => void this.toggle());
    this.remove.addEventListener('click', () => void this.removeAll());
    this.element.hidden = true;
    this.render();
  }

  /** The presenter's page while phones may join: shown; else hidden. */
  update(shown: boolean, joining: boolean, phones: number): void {
    setHidden(this.element, !shown);
    this.joining = joining;
    this.phones = phones;
    this.render();
  }

  private render(): void {
    setText(this.pause, this.joining ? 'pause joining' : 'open joining');
    this.pause.title = this.joining
      ? 'new phones are told joining is paused; the phones in stay'
      : 'phones may join again';
    const armed = Date.now() < this.armedUntil;
    setText(this.remove, armed ? `sure? remove ${this.phones}` : 'remove all phones');
    this.remove.dataset.armed = String(armed);
  }

  private async toggle(): Promise<void> {
    this.pause.disabled = true;
    const answer = await this.send.joining(!this.joining);
    this.pause.disabled = false;
    if (answer.ok) this.joining = answer.data.joining;
    setText(this.said, answer.ok ? '' : answer.error);
    this.render();
  }

  private async removeAll(): Promise<void> {
    if (Date.now() >= this.armedUntil) {
      this.armedUntil = Date.now() + CONFIRM_MS;
      this.render();
      setTimeout(() => this.render(), CONFIRM_MS + 50);
      return;
    }
    this.armedUntil = 0;
    this.remove.disabled = true;
    setText(this.said, 'removing every phone…');
    const answer = await this.send.removeAll();
    this.remove.disabled = false;
    setText(
      this.said,
      answer.ok
        ? `${answer.data.removed} phones removed; any already silent leave when each store's window ends`
        : answer.error,
    );
    this.render();
  }
}
