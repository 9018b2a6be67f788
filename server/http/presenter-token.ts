// The presenter's token, which the presenter may rotate from the page (the presenter URL was shown to
// the room by mistake): a new random token, every connection that used the old one becomes read-only,
// and the new presenter URL goes to the terminal the server runs in, never to a page.
import { randomBytes } from 'node:crypto';
import { sameToken } from './socket-guard.ts';

export class PresenterToken {
  constructor(private token: string) {}

  matches(given: unknown): boolean {
    return sameToken(given, this.token);
  }

  /** A new token (as `fleetkit server` makes one at start); the old one stops working at once. */
  rotate(): string {
    this.token = randomBytes(12).toString('base64url');
    return this.token;
  }
}

/** The presenter URL for this token, on the audience URL (which may carry a query already). */
export const presenterUrlOf = (audienceUrl: string, token: string): string =>
  `${audienceUrl}${audienceUrl.includes('?') ? '&' : '?'}token=${token}`;
