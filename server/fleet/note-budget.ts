// How many timeline entries of one kind a store may add per minute: beyond it they are counted and
// summed up in one entry when the minute ends. Someone writing 10,000 garbage keys by hand must not
// push every real event out of the 200-entry timeline (nor send 10,000 entries to every page).
const PER_WINDOW = 10;
const WINDOW_MS = 60_000;

export class NoteBudget {
  private windowStart = 0;
  private taken = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Called when a window ends with entries left out: write the summary. */
    private readonly summary: (suppressed: number) => void,
    private readonly perWindow = PER_WINDOW,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** True: note it. False: counted, summed up when the window ends. */
  take(now = Date.now()): boolean {
    if (now - this.windowStart >= this.windowMs && this.timer === undefined) {
      this.windowStart = now;
      this.taken = 0;
    }
    if (this.taken < this.perWindow) {
      this.taken++;
      return true;
    }
    this.suppressed++;
    this.timer ??= setTimeout(() => this.endWindow(), this.windowStart + this.windowMs - now);
    return false;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private endWindow(): void {
    this.timer = undefined;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.windowStart = Date.now();
    this.taken = 0;
    if (suppressed > 0) this.summary(suppressed);
  }
}
