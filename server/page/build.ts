// Bundles the live page for the browser (one ES module with socket.io-client in it) and its
// stylesheet (style.css and the area stylesheets it @imports, one file). The server calls this once at
// start and serves both from memory: nothing is written.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [here(entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: entry.endsWith('.ts'),
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]?.text;
  if (text === undefined) throw new Error(`page build of ${entry} produced no output`);
  return text;
}

export async function buildPage(): Promise<{ js: string; css: string }> {
  const [js, css] = await Promise.all([bundle('./main.ts'), bundle('./style.css')]);
  return { js, css };
}

/** The audience phone's page script (server/phone/), built only when phones may join. */
export function buildPhonePage(): Promise<string> {
  return bundle('../phone/main.ts');
}
