// The page and its assets, all from memory and all local (the venue may have no internet), the
// audience URL's QR code made here, the attendee kit's routes (kit.ts), the phones' /join
// (join-route.ts) and the timeline's download (timeline-routes.ts).
import express from 'express';
import QRCode from 'qrcode';
import type { TimelineEntry } from '../contract.ts';
import { pageHtml } from '../page/index.html.ts';
import { joinRoutes } from './join-route.ts';
import { type KitOptions, kitRoutes } from './kit.ts';
import { timelineRoutes } from './timeline-routes.ts';

export interface PageAssets {
  js: string;
  css: string;
}

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:";

export async function createServerApp(
  assets: PageAssets,
  audienceUrl: string,
  kit: KitOptions,
  /** The timeline to export (every entry kept) and the name of the download (namespace-service). */
  timeline?: { entries: () => TimelineEntry[]; scope: string },
  /** The phone page's script when phones may join (/join); null: /join says joining is off. */
  phoneScript: string | null = null,
): Promise<express.Express> {
  const qr = await QRCode.toString(audienceUrl, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
  const html = pageHtml({ scriptPath: '/app.js', stylePath: '/app.css' });
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    next();
  });
  const send = (type: string, body: string) => (_req: express.Request, res: express.Response) => {
    res.type(type).set('cache-control', 'no-cache').send(body);
  };
  app.get('/', send('html', html));
  app.get('/app.js', send('application/javascript', assets.js));
  app.get('/app.css', send('text/css', assets.css));
  app.get('/qr.svg', send('image/svg+xml', qr));
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(kitRoutes(kit));
  app.use(joinRoutes(phoneScript));
  if (timeline) app.use(timelineRoutes(timeline.entries, timeline.scope));
  app.use((_req, res) => {
    res.status(404).type('text').send('not found: the page is at /');
  });
  return app;
}
