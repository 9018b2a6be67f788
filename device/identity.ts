// Who this device is. Not the hostname: every stock Pi is called "raspberrypi". The Pi's serial
// number is stable and unique; elsewhere /etc/machine-id; both can be overridden (FLEET_DEVICE_ID).
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { errorMessage } from '../lib/registry/index.ts';

const SOURCES = ['/proc/device-tree/serial-number', '/etc/machine-id'];

/** Turns what the hardware says into a valid instance id (letters, digits, '-', '_', '.', ':'). */
export function toDeviceId(raw: string): string | undefined {
  const cleaned = raw
    .replace(/\0/g, '')
    .trim()
    .replace(/[^A-Za-z0-9_.:-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return cleaned === '' ? undefined : cleaned;
}

export async function findDeviceId(): Promise<{ id: string; source: string }> {
  for (const source of SOURCES) {
    try {
      const id = toDeviceId(await readFile(source, 'utf8'));
      if (id) return { id, source };
    } catch {
      // not on this machine: try the next source
    }
  }
  return { id: toDeviceId(hostname()) ?? 'device', source: 'hostname' };
}

/**
 * The local address the kernel would use to reach `host`: a UDP "connect" sends nothing, it only
 * picks the route. So a Pi on Wi-Fi advertises its Wi-Fi address, not 127.0.0.1 or a docker bridge.
 */
export function addressTowards(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.connect(port, host, (error?: Error) => {
      // The callback also reports a failed lookup: then there is no route to speak of.
      const address = error ? undefined : socket.address().address;
      socket.close();
      if (!address || address === '0.0.0.0' || address === '::')
        reject(error ?? new Error(`no route to ${host}`));
      else resolve(address);
    });
  });
}

/** The interface routing to the first store that has a route; loopback only when the stores are local. */
export async function findAdvertisedHost(
  endpoints: readonly { host: string; port: number }[],
): Promise<string> {
  const errors: string[] = [];
  for (const endpoint of endpoints) {
    try {
      return await addressTowards(endpoint.host, endpoint.port);
    } catch (error) {
      errors.push(`${endpoint.host}: ${errorMessage(error)}`);
    }
  }
  throw new Error(`no route to any store (${errors.join('; ')}); set FLEET_HOST to this device's address`);
}
