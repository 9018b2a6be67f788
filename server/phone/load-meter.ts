// What a phone's page can measure of itself, as its load (BrowserLoad): how late a 100 ms timer fires
// (the event loop's delay: a busy, throttled or backgrounded phone) and the battery where the Battery
// API exists (Chromium on Android); null where the browser does not tell.
import type { BrowserLoad } from '../contract.ts';

const TICK_MS = 100;
/** The delay reported is the mean lateness over the last this-many ticks (about 5 s). */
const WINDOW_TICKS = 50;

interface BatteryManager {
  level: number;
  addEventListener(type: 'levelchange', listener: () => void): void;
}

export class LoadMeter {
  private readonly lateness: number[] = [];
  private expected = performance.now() + TICK_MS;
  private battery: number | null = null;

  constructor() {
    window.setInterval(() => this.tick(), TICK_MS);
    const getBattery = (navigator as { getBattery?: () => Promise<BatteryManager> }).getBattery;
    getBattery
      ?.call(navigator)
      .then((manager) => {
        const read = () => {
          this.battery = Number.isFinite(manager.level) ? Math.round(manager.level * 100) : null;
        };
        read();
        manager.addEventListener('levelchange', read);
      })
      .catch(() => undefined); // not allowed here (an insecure page, a policy): stays null
  }

  read(): BrowserLoad {
    const delay =
      this.lateness.length === 0
        ? null
        : Math.round(this.lateness.reduce((a, b) => a + b, 0) / this.lateness.length);
    return { kind: 'browser', eventLoopDelayMs: delay, batteryPercent: this.battery };
  }

  private tick(): void {
    const now = performance.now();
    this.lateness.push(Math.min(600_000, Math.max(0, now - this.expected)));
    if (this.lateness.length > WINDOW_TICKS) this.lateness.shift();
    this.expected = now + TICK_MS;
  }
}
