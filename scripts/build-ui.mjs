// Builds the web UI (ui/) into dist/ui/: index.html, app.js and app.css, minified, with nothing
// loaded from anywhere else at run time. `node scripts/build-ui.mjs` (npm run build runs it).

import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/ui');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'ui/src/main.tsx', out: 'app' },
    { in: 'ui/src/app.css', out: 'app' },
  ],
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(root, 'ui/index.html'), join(out, 'index.html'));

const size = async (f) => (await stat(join(out, f))).size;
console.log(
  `ui: dist/ui/ app.js ${await size('app.js')} B, app.css ${await size('app.css')} B, index.html ${await size('index.html')} B`,
);
