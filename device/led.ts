// On a real Pi, blink the green activity LED when the color changes, so that the room sees which
// board reacted. Elsewhere (no such sysfs files, or no permission) it silently does nothing.
import { readFile, writeFile } from 'node:fs/promises';

const LED_DIRS = ['/sys/class/leds/ACT', '/sys/class/leds/led0'];

export async function blinkActivityLed(times = 3, periodMs = 120): Promise<void> {
  for (const dir of LED_DIRS) {
    let trigger: string;
    try {
      trigger = (await readFile(`${dir}/trigger`, 'utf8')).match(/\[([^\]]+)\]/)?.[1] ?? 'mmc0';
      await writeFile(`${dir}/trigger`, 'none');
    } catch {
      continue;
    }
    try {
      for (let i = 0; i < times; i++) {
        await writeFile(`${dir}/brightness`, '1');
        await new Promise((r) => setTimeout(r, periodMs));
        await writeFile(`${dir}/brightness`, '0');
        await new Promise((r) => setTimeout(r, periodMs));
      }
    } catch {
      // best effort
    } finally {
      await writeFile(`${dir}/trigger`, trigger).catch(() => undefined);
    }
    return;
  }
}
