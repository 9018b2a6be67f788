// The running simulated fleet answers on loopback HTTP, so that `fleetkit sim unplug sim-3` in another
// terminal, and the server's presenter controls, can act on it: GET /devices, POST /devices/ID/ACTION
// (stress with a body {"percent": 80, "seconds": 60}), POST /stop. JSON in and out. Guarded like the
// store control (server/loopback-api.ts): loopback only, the secret in every request, Host checked,
// Origin refused. The secret goes to the server in its environment (FLEET_SIM_CONTROL_SECRET) and to
// the `fleetkit sim` commands of another terminal through a 0600 file (simControlFile()).
import { once } from 'node:events';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import { errorMessage } from '../../lib/registry/index.ts';
import { guardLoopbackRequest, LOOPBACK, newSecret } from '../../server/loopback-api.ts';
import {
  checkStressParams,
  SIM_ACTIONS,
  SIM_CONTROL_SECRET_VARIABLE,
  type SimAction,
} from '../../server/simulation-contract.ts';
import { projectRoot } from '../stores/paths.ts';
import type { SimFleet } from './fleet.ts';

/** A stress body is a few dozen bytes: more is refused before it is read. */
const MAX_BODY_BYTES = 1024;

class BadRequest extends Error {}

/** The JSON body of a request, at most MAX_BODY_BYTES. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) throw new BadRequest(`body: at most ${MAX_BODY_BYTES} bytes of JSON`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new BadRequest('body: JSON such as {"percent": 80, "seconds": 60}');
  }
}

// The API served here is the server's contract (server/simulation-contract.ts), its client too.
export {
  DEFAULT_SIM_CONTROL,
  DEFAULT_SIM_CONTROL_PORT,
  SIM_CONTROL_SECRET_VARIABLE,
  SimControlClient,
} from '../../server/simulation-contract.ts';

/** Where a running fleet leaves its control API's URL and secret for this machine's user (0700). */
export const SIM_CONTROL_DIR = path.join(projectRoot, '.cache', 'sim');

/** The 0600 settings file of the fleet whose control API listens on `port`. */
export function simControlFile(port: number): string {
  return path.join(SIM_CONTROL_DIR, `control-${port}.env`);
}

export interface SimControl {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly secret: string;
  readonly server: Server;
  /** The settings file written for `fleetkit sim` commands, if asked for (removed by close()). */
  readonly file: string | undefined;
  close(): Promise<void>;
}

export async function serveControl(
  fleet: SimFleet,
  port: number,
  onStop: () => void,
  options: { secret?: string; writeFile?: boolean } = {},
): Promise<SimControl> {
  const secret = options.secret ?? newSecret();
  const server = createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    try {
      const refused = guardLoopbackRequest(req.headers, {
        port,
        secret,
        secretVariable: SIM_CONTROL_SECRET_VARIABLE,
      });
      if (refused) return reply(refused.status, { error: refused.error });
      const parts = new URL(req.url ?? '/', 'http://sim').pathname.split('/').filter(Boolean);
      if (req.method === 'GET' && parts.length === 1 && parts[0] === 'devices')
        return reply(200, fleet.list());
      if (req.method === 'POST' && parts.length === 1 && parts[0] === 'stop') {
        reply(202, { stopping: true });
        return onStop();
      }
      if (req.method === 'POST' && parts.length === 3 && parts[0] === 'devices') {
        const [, id, action] = parts as [string, string, string];
        if (!SIM_ACTIONS.includes(action as SimAction))
          return reply(400, { error: `action: one of ${SIM_ACTIONS.join(', ')}` });
        if (action !== 'stress') return reply(200, await fleet.act(decodeId(id), action as SimAction));
        const checked = checkStressParams(await jsonBody(req));
        if (checked.issues)
          return reply(400, { error: checked.issues.map((i) => `${i.field}: ${i.expected}`).join('; ') });
        return reply(200, await fleet.act(decodeId(id), 'stress', checked.params));
      }
      reply(404, {
        error: `try GET /devices, POST /devices/ID/${SIM_ACTIONS.join('|')}, POST /stop`,
      });
    } catch (error) {
      reply(error instanceof BadRequest ? 400 : 409, { error: errorMessage(error).slice(0, 300) });
    }
  });
  server.listen(port, LOOPBACK);
  try {
    await once(server, 'listening');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${port} is taken: is a simulated fleet already running? (\`fleetkit sim list\`)`);
    }
    throw error;
  }
  const url = `http://${LOOPBACK}:${port}`;
  let file: string | undefined;
  if (options.writeFile) {
    file = simControlFile(port);
    await mkdir(SIM_CONTROL_DIR, { recursive: true, mode: 0o700 });
    await chmod(SIM_CONTROL_DIR, 0o700); // an older folder may be looser
    await rm(file, { force: true }); // a mode applies to a new file only: a leftover may be looser
    await writeFile(file, simControlSettings({ url, secret }), { mode: 0o600 });
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    secret,
    server,
    file,
    close() {
      closing ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (file) await rm(file, { force: true });
      })();
      return closing;
    },
  };
}

/** A path segment's id; a malformed escape (%ZZ) is a bad request, not a crash. */
function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest('ID: a device id such as sim-3');
  }
}

/** The settings file `fleetkit sim start` and `npm run demo` write for the other terminal's commands. */
export function simControlSettings(control: { url: string; secret: string }): string {
  return (
    `# The simulated fleet's control API (pid ${process.pid}); removed when it stops.\n` +
    `FLEET_SIM_CONTROL=${control.url}\n${SIM_CONTROL_SECRET_VARIABLE}=${control.secret}\n`
  );
}

/**
 * The secret for the fleet at `url`: FLEET_SIM_CONTROL_SECRET from the environment, else the file the
 * fleet wrote for its port. Throws saying what to do when there is neither.
 */
export async function simControlSecret(
  url: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const given = env[SIM_CONTROL_SECRET_VARIABLE];
  if (given) return given;
  const port = Number(new URL(url).port || 80);
  const file = simControlFile(port);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EACCES'
        ? `${file} is not readable by this user: run the command as the user that started the simulated fleet (root if it was started with sudo)`
        : `no simulated fleet answers on port ${port} of this machine (${file} is missing): start one with \`fleetkit sim start 6\`, or give ${SIM_CONTROL_SECRET_VARIABLE} in the environment`,
    );
  }
  const line = text.split(/\r?\n/).find((l) => l.startsWith(`${SIM_CONTROL_SECRET_VARIABLE}=`));
  const secret = line?.slice(SIM_CONTROL_SECRET_VARIABLE.length + 1).trim();
  if (!secret)
    throw new Error(`${file} has no ${SIM_CONTROL_SECRET_VARIABLE} line: stop the fleet and start it again`);
  return secret;
}
