// Bundles src/index.ts into dist/relance-pixel.js with esbuild, the bundler
// the Shopify CLI uses for web pixel extensions, and fails above Shopify's
// 128 KB limit (the CLI's build validation).
import {build} from 'esbuild';
import {statSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const LIMIT = 128 * 1024;
export const OUT = root + 'dist/relance-pixel.js';

await build({
  entryPoints: [root + 'src/index.ts'],
  outfile: OUT,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const size = statSync(OUT).size;
if (size > LIMIT) {
  console.error(`relance-pixel: bundle is ${size} bytes, above Shopify's ${LIMIT}`);
  process.exit(1);
}
console.log(`relance-pixel: dist/relance-pixel.js ${size} bytes (limit ${LIMIT})`);
