// GET /join: the phone's page (server/phone/), or, while joining is off, 404 with the sentence that
// says how the presenter turns it on (nothing registers). The page's script is built at start.
import express from 'express';
import { AUDIENCE_OFF, JOIN_PATH } from '../audience-contract.ts';
import { htmlDocument } from '../page/index.html.ts';

export const PHONE_SCRIPT = '/phone.js';

const STYLE = `<style>
body { margin: 0; min-height: 100vh; font: 18px/1.4 system-ui, sans-serif; background: #1b1f24; color: #f3f4f6;
  display: flex; flex-direction: column; align-items: center; justify-content: center; text-align: center; }
body[data-ink="dark"] { color: #111; }
#phone-id { font-size: 2.2rem; font-weight: 700; margin: 0.2em 1em; word-break: break-all; }
#phone-status { margin: 0.5em 1.5em; }
#phone-stores { list-style: none; padding: 0; margin: 0.5em 0 1em; font-size: 1.05rem; width: min(22em, 88vw); text-align: left; }
#phone-stores li { display: grid; grid-template-columns: 1fr auto; gap: 0.1em 0.6em; margin: 0.7em 0; }
#phone-stores li[data-state="registered"] .store-name::before { content: "● "; }
#phone-stores li:not([data-state="registered"]) .store-name::before { content: "○ "; }
#phone-stores .store-name { font-weight: 700; }
#phone-stores .store-model { opacity: 0.85; }
#phone-stores .bar { grid-column: 1 / -1; height: 0.7em; border: 2px solid currentColor; border-radius: 0.4em; overflow: hidden; }
#phone-stores .fill { height: 100%; background: currentColor; transition: width 0.2s linear; }
#phone-stores .fill[data-level="draining"] { opacity: 0.7; }
#phone-stores .left { grid-column: 1 / -1; font-size: 0.9rem; }
#phone-load { font-size: 0.95rem; opacity: 0.9; margin: 0 0 1em; }
#phone-watch { color: inherit; margin-top: 1em; font-size: 1.1rem; }
button { font: inherit; font-size: 1.2rem; padding: 0.7em 1.6em; border-radius: 0.6em; border: 2px solid currentColor;
  background: rgba(0,0,0,0.25); color: inherit; }
</style>`;

export function joinRoutes(script: string | null): express.Router {
  const router = express.Router();
  router.get(JOIN_PATH, (_req, res) => {
    if (script === null) {
      res.status(404).type('text').send(AUDIENCE_OFF);
      return;
    }
    res
      .type('html')
      .set('cache-control', 'no-cache')
      .send(
        htmlDocument(
          'fleetkit: you are a device',
          `${STYLE}\n<script type="module" src="${PHONE_SCRIPT}"></script>`,
          `<p id="phone-id"></p>
<p id="phone-status">joining the fleet…</p>
<ul id="phone-stores"></ul>
<p id="phone-load"></p>
<button id="phone-leave" hidden>Leave the fleet</button>
<button id="phone-join" hidden>Join again</button>
<a id="phone-watch" href="/" hidden>watch the fleet (read-only)</a>
<noscript><p>This page needs JavaScript to make your phone a device.</p></noscript>`,
        ),
      );
  });
  router.get(PHONE_SCRIPT, (_req, res) => {
    if (script === null) res.status(404).type('text').send(AUDIENCE_OFF);
    else res.type('application/javascript').set('cache-control', 'no-cache').send(script);
  });
  return router;
}
