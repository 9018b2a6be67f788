// `npm run build:agent`: the agent as one JavaScript file for the Pis (Node >= 20, arm64 or armv7):
// no node_modules, no native code. Also copies the systemd unit and the env file template beside it.

import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import protobuf from 'protobufjs';
import { isEntryPoint } from '../lib/cli/entry-point.ts';

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

export interface BuildResult {
  file: string;
  bytes: number;
}

export async function buildAgent(outDir = path.join(root, 'dist')): Promise<BuildResult> {
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  const file = path.join(outDir, 'fleetkit-agent.mjs');
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(root, 'device', 'bundle-entry.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    logLevel: 'warning',
    define: { __FLEETKIT_VERSION__: JSON.stringify(version) },
    // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __fleetkitRequire } from 'node:module'; const require = __fleetkitRequire(import.meta.url);",
    },
    plugins: [embedEtcdProtos],
  });
  if (result.errors.length > 0)
    throw new Error(`build failed: ${result.errors.map((e) => e.text).join('; ')}`);
  for (const extra of ['fleetkit-agent.service', 'agent.env.example']) {
    await copyFile(path.join(root, 'device', extra), path.join(outDir, extra));
  }
  return { file, bytes: (await stat(file)).size };
}

if (isEntryPoint(import.meta.url)) {
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  const started = Date.now();
  process.stdout.write('building the agent bundle...\n');
  const { file, bytes } = await buildAgent(outDir);
  process.stdout.write(
    `built ${path.relative(process.cwd(), file)} (${(bytes / 1024).toFixed(0)} KB) in ${Date.now() - started} ms, with fleetkit-agent.service and agent.env.example beside it\n`,
  );
}
