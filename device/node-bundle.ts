// One esbuild setup for every one-file bundle that runs on plain Node (the agent for the Pis,
// device/build.ts; the attendee kit, device/kit/build.ts): no node_modules beside it, no native code.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import protobuf from 'protobufjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * etcd3 reads its .proto files from disk next to its own code at run time; in one bundled file there
 * is no such folder. Parse them now and hand the result to proto-loader's fromJSON instead.
 */
const embedEtcdProtos: Plugin = {
  name: 'embed-etcd3-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const proto = path.join(path.dirname(args.path), '..', 'proto', 'rpc.proto');
      const json = new protobuf.Root().loadSync(proto, { keepCase: true }).toJSON();
      const patched = source.replace(
        /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/,
        `(0, proto_loader_1.fromJSON)(${JSON.stringify(json)},`,
      );
      if (patched === source) throw new Error(`etcd3 changed: no proto loadSync call found in ${args.path}`);
      return { contents: patched, loader: 'js' };
    });
  },
};

/**
 * `node:http` through require(), not as an ES module import. Node 22 gives node:http lazy getters
 * (WebSocket, ...) that load undici, which needs WebAssembly; the unit's --lite-mode turns WebAssembly
 * off, and Node 22's ES module loader reads every getter of a built-in it imports: the agent died at
 * start on Node 22.23 ("WebAssembly is not defined"). require() reads only what is used.
 */
const httpThroughRequire: Plugin = {
  name: 'http-through-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === 'require-call'
        ? { path: 'node:http', external: true }
        : { path: 'node:http', namespace: 'http-through-require' },
    );
    b.onLoad({ filter: /.*/, namespace: 'http-through-require' }, () => ({
      contents: "module.exports = require('node:http');",
      loader: 'js',
    }));
  },
};

/** The kit's version from package.json, baked into the bundle (device/version.ts reads it). */
export async function packageVersion(): Promise<string> {
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  return String(version);
}

/**
 * The oldest Node.js major the kit supports, from package.json's `engines.node` (">=20"): the one
 * source for the bundles' esbuild target and the agent's own check at start.
 */
export async function minimumNodeMajor(): Promise<number> {
  const { engines } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  const major = /^>=\s*(\d+)(?:\.0){0,2}$/.exec(String(engines?.node ?? ''))?.[1];
  if (major === undefined)
    throw new Error(`package.json: engines.node must read ">=N" (it reads "${engines?.node}")`);
  return Number(major);
}

/**
 * Bundles `entry` (a path from the repository's root) into one ES module for the oldest Node.js the kit
 * supports (package.json's engines), in memory:
 * the callers write it to a file (the agent) or serve it (the kit, from the live page).
 */
export async function bundleForNode(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [path.join(root, entry)],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: `node${await minimumNodeMajor()}`,
    minify: true,
    keepNames: false,
    legalComments: 'none',
    logLevel: 'warning',
    define: {
      __FLEETKIT_VERSION__: JSON.stringify(await packageVersion()),
      __FLEETKIT_MIN_NODE__: String(await minimumNodeMajor()),
    },
    // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __fleetkitRequire } from 'node:module'; const require = __fleetkitRequire(import.meta.url);",
    },
    plugins: [embedEtcdProtos, httpThroughRequire],
  });
  if (result.errors.length > 0)
    throw new Error(`build of ${entry} failed: ${result.errors.map((e) => e.text).join('; ')}`);
  const text = result.outputFiles[0]?.text;
  if (text === undefined) throw new Error(`build of ${entry} produced no output`);
  return text;
}
