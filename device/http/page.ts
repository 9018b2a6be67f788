// The device's page: its color fills the screen (the audience sees every board turn), with who it is,
// which stores it is registered in and how loaded it is. Everything shown is set as text, never HTML.
import type { AgentStatus } from '../agent.ts';

/** JSON that can sit inside a <script> element: no "</script>", no "<!--". */
/** How long a page refused a live stream (503) waits before trying /events again; also its Retry-After. */
export const EVENTS_RETRY_SECONDS = 10;

const scriptSafeJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

export function renderPage(status: AgentStatus): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleetkit device</title>
<style>
  html, body { margin: 0; font: 18px/1.4 system-ui, sans-serif; }
  /* Centered by margin: auto, so that a page taller than the screen (a phone, long problems) scrolls from its top. */
  body { display: flex; min-height: 100vh; background: #444; transition: background .3s; }
  main { margin: auto; background: rgba(0,0,0,.72); color: #fff; padding: 1.5em 2em; border-radius: 12px; max-width: 90vw; box-sizing: border-box; }
  h1 { margin: 0 0 .2em; font-size: 2em; word-break: break-all; }
  .sub { opacity: .8; margin-bottom: 1em; }
  ul { list-style: none; padding: 0; margin: .5em 0; }
  li { margin: .2em 0; }
  .dot { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .5em; background: #888; }
  .ok { background: #3c3; } .warn { background: #fc3; } .bad { background: #e33; }
  .problem { color: #fc3; }
  .refused { color: #fdd; overflow-wrap: anywhere; }
  .problem:empty, .sub:empty { display: none; }
  .live { position: fixed; top: .5em; right: .8em; font-size: .8em; color: #fff; background: rgba(0,0,0,.6); padding: .2em .6em; border-radius: 6px; }
</style>
</head>
<body>
<div class="live" id="live">connecting…</div>
<main>
  <h1 id="id"></h1>
  <div class="sub" id="where"></div>
  <div>color: <strong id="color"></strong></div>
  <ul id="stores"></ul>
  <div id="network" class="problem"></div>
  <div id="load"></div>
  <div id="stress"></div>
  <div id="led" class="sub"></div>
</main>
<script id="initial" type="application/json">${scriptSafeJson(status)}</script>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const dotClass = { registered: 'ok', pending: 'warn', lost: 'warn', conflict: 'bad', deregistered: 'bad' };
  function show(s) {
    document.body.style.backgroundColor = s.color || '';
    $('id').textContent = s.id;
    $('where').textContent = s.service + ' at ' + (s.host || '(no address yet)') + ':' + s.port + ' · agent ' + s.version;
    const n = s.network;
    $('network').textContent = !n || !n.problem ? '' : 'no route to the stores: ' + n.problem +
      (s.host ? ' · still advertised as ' + s.host : ' · registering as soon as a route appears');
    const led = s.led;
    $('led').textContent = !led ? '' : 'LED' + (led.name ? ' ' + led.name : '') + ': ' + led.shown + (led.problem ? ' · ' + led.problem : '');
    $('color').textContent = s.color || 'none yet';
    const list = $('stores');
    list.replaceChildren(...s.stores.map((st) => {
      const li = document.createElement('li');
      const dot = document.createElement('span');
      dot.className = 'dot ' + (st.connection === 'connected' ? (dotClass[st.registration] || '') : 'bad');
      // Refused credentials: said as such (not "down"), with what to do (the problem ends with it).
      const refused = st.connection === 'unauthorized';
      li.className = refused ? 'refused' : '';
      li.dataset.connection = st.connection;
      li.append(dot, st.store + ': ' + (refused ? 'UNAUTHORIZED, not registered' : st.registration + ' (' + st.connection + ')') +
        (st.problem ? ' · ' + st.problem : ''));
      return li;
    }));
    const l = s.load;
    $('load').textContent = l ? 'CPU ' + l.cpuPercent + ' % · load ' + l.load1 + ' · memory ' + l.memUsedPercent + ' %' +
      (l.temperatureC === null ? '' : ' · ' + l.temperatureC + ' °C') +
      (s.loadFrom === 'process' ? ' (of this agent process)' : '') : 'load: measuring…';
    stress = s.stress;
    stressAt = performance.now();
    showStress();
  }
  // The load it is told to carry, its seconds left counted down here between pushes (on this
  // browser's monotonic clock: a phone's clock may differ from the device's, or step).
  let stress = null;
  let stressAt = 0;
  function showStress() {
    const st = stress;
    if (!st || (st.percent === 0 && st.endsAt === null)) { $('stress').textContent = ''; return; }
    const left = st.secondsLeft === null ? 0 : Math.max(0, Math.round(st.secondsLeft - (performance.now() - stressAt) / 1000));
    $('stress').textContent = 'carrying ' + st.percent + ' % of one core' +
      (st.endsAt === null ? ' (its base load)' : ' for ' + left + ' s more' + (st.base > 0 ? ', then its base ' + st.base + ' %' : ''));
  }
  setInterval(showStress, 1000);
  show(JSON.parse($('initial').textContent));
  function connect() {
    const events = new EventSource('/events');
    events.onopen = () => { $('live').textContent = 'live'; };
    events.onmessage = (e) => show(JSON.parse(e.data));
    events.onerror = () => {
      if (events.readyState !== EventSource.CLOSED) { $('live').textContent = 'agent unreachable, retrying…'; return; }
      // Refused (503: too many pages of this device open): the browser gives up, so try again later.
      $('live').textContent = 'not live: too many pages of this device are open, close other tabs; retrying…';
      setTimeout(connect, ${EVENTS_RETRY_SECONDS * 1000});
    };
  }
  connect();
})();
</script>
</body>
</html>
`;
}
