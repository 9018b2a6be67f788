// Bundles the live page for the browser (one ES module with socket.io-client in it) and reads its
// stylesheet. The server calls this once at start and serves both from memory: nothing is written.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

export async function buildPage(): Promise<{ js: string; css: string }> {
  const [result, css] = await Promise.all([
    build({
      entryPoints: [here('./main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
    }),
    readFile(here('./style.css'), 'utf8'),
  ]);
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('page build produced no output');
  return { js, css };
}
