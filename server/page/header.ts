// The page header: the title and scope, the presenter's controls, the audience QR code and URL (in a
// classroom also the link to the attendee kit), and the page's own connection to the control host.
import { el, setAttr, setHidden, setText } from './dom.ts';
import type { FleetMeta } from './state.ts';

export type PageConnection = 'connecting' | 'connected' | 'reconnecting' | 'unreachable' | 'refused';

const CONNECTION_TEXT: Record<PageConnection, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  unreachable: 'server unreachable, retrying…',
  refused: 'refused by the server',
};

export class Header {
  readonly element: HTMLElement;
  private readonly scope: HTMLElement;
  private readonly connection: HTMLElement;
  private readonly controlsSlot: HTMLElement;
  private readonly audienceUrl: HTMLElement;
  private readonly kit: HTMLElement;
  private readonly kitLink: HTMLAnchorElement;
  private readonly join: HTMLElement;
  private readonly joinLink: HTMLAnchorElement;
  private readonly notice: HTMLElement;
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.element = el('header', 'top');
    const brand = el('div', 'brand');
    this.scope = el('p', 'scope');
    this.notice = el('p', 'notice');
    this.notice.setAttribute('role', 'status');
    this.notice.hidden = true;
    brand.append(el('h1', 'title', 'fleetkit'), this.scope, this.notice);

    this.connection = el('div', 'connection');
    this.connection.id = 'connection';
    this.connection.setAttribute('role', 'status');
    this.connection.setAttribute('aria-live', 'polite');

    this.controlsSlot = el('div', 'controls-slot');

    const audience = el('div', 'audience');
    const qr = el('img', 'qr');
    qr.src = '/qr.svg';
    qr.alt = 'QR code of the audience page';
    qr.width = 72;
    qr.height = 72;
    qr.addEventListener('error', () => {
      qr.hidden = true;
    });
    const text = el('div', 'audience-text');
    this.audienceUrl = el('span', 'audience-url');
    // With --classroom: where the attendees' laptops get the kit (the QR code stays the audience page).
    this.kit = el('span', 'kit');
    this.kitLink = el('a', 'audience-url kit-link');
    this.kitLink.id = 'kit-link';
    this.kit.append(el('span', 'audience-label', 'join with a laptop: '), this.kitLink);
    this.kit.hidden = true;
    // With --audience-devices: where a phone becomes a device.
    this.join = el('span', 'kit');
    this.joinLink = el('a', 'audience-url join-link');
    this.joinLink.id = 'join-link';
    this.join.append(el('span', 'audience-label', 'be a device: '), this.joinLink);
    this.join.hidden = true;
    text.append(el('span', 'audience-label', 'follow along:'), this.audienceUrl, this.kit, this.join);
    audience.append(qr, text);

    this.element.append(brand, this.connection, this.controlsSlot, audience);
    this.setConnection('connecting');
  }

  setMeta(meta: FleetMeta): void {
    setText(this.scope, `namespace ${meta.namespace} · service ${meta.service}`);
    setText(this.audienceUrl, meta.audienceUrl);
    const kitUrl = meta.kitUrl && /^https?:\/\//.test(meta.kitUrl) ? meta.kitUrl : null;
    setHidden(this.kit, kitUrl === null);
    setAttr(this.kitLink, 'href', kitUrl);
    setText(this.kitLink, kitUrl ?? '');
    const joinUrl = meta.joinUrl && /^https?:\/\//.test(meta.joinUrl) ? meta.joinUrl : null;
    setHidden(this.join, joinUrl === null);
    setAttr(this.joinLink, 'href', joinUrl);
    setText(this.joinLink, joinUrl ?? '');
    document.title = `fleetkit · ${meta.namespace}/${meta.service}`;
  }

  setConnection(state: PageConnection, detail?: string): void {
    setAttr(this.connection, 'data-state', state);
    setText(this.connection, detail ? `${CONNECTION_TEXT[state]}: ${detail}` : CONNECTION_TEXT[state]);
  }

  /** A passing word under the title (a key the page cannot act on), gone after a few seconds. */
  flash(text: string): void {
    setText(this.notice, text);
    setHidden(this.notice, false);
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => setHidden(this.notice, true), 4000);
  }

  /** The presenter's audience buttons, at the end of the "be a device" line. */
  setAudienceControls(controls: HTMLElement): void {
    if (controls.parentElement !== this.join) this.join.append(controls);
  }

  /** Shows the presenter's controls, or none (the audience gets no controls at all). */
  setControls(controls: HTMLElement | null): void {
    if (controls) {
      if (controls.parentElement !== this.controlsSlot) this.controlsSlot.replaceChildren(controls);
    } else if (this.controlsSlot.childElementCount > 0) {
      this.controlsSlot.replaceChildren();
    }
    this.controlsSlot.hidden = controls === null;
  }
}
