// Bundles each runtime with esbuild: extension, worker and CLI for Node (CommonJS), the webview
// panel for the browser (IIFE). The tfjs wasm binaries are copied next to the bundles, where
// src/engine/backend.ts looks for them first, with the two scripts that the threaded build's
// workers load as files (see patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch).
// `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Native or optional packages stay outside the bundles: they are resolved at run time, inside try/catch.
const nodeExternals = ['vscode', 'webgpu', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

const nodeEntries = [
  { in: 'src/extension/extension.ts', out: 'extension' },
  { in: 'src/worker/main.ts', out: 'worker' },
  { in: 'src/cli/main.ts', out: 'cli' },
].filter((e) => fs.existsSync(path.join(root, e.in)));

// tfjs packages mark themselves side-effect free, yet backends and gradients register on import;
// ignoring the annotations keeps those imports in the bundles.
const common = { bundle: true, ignoreAnnotations: true, sourcemap: !production, minify: production, logLevel: 'warning', absWorkingDir: root };

const builds = [
  {
    ...common,
    entryPoints: nodeEntries,
    outdir: dist,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  },
];
if (fs.existsSync(path.join(root, 'webview/main.ts'))) {
  builds.push({
    ...common,
    entryPoints: [{ in: 'webview/main.ts', out: 'webview' }],
    outdir: dist,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  });
}

fs.mkdirSync(dist, { recursive: true });
// wasm-out holds the same .wasm files as the package's dist folder, and the threaded build's scripts.
const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/wasm-out');
const threadedScripts = ['tfjs-backend-wasm-threaded-simd.js', 'tfjs-backend-wasm-threaded-simd.worker.js'];
for (const f of fs.readdirSync(wasmDir).filter((f) => f.endsWith('.wasm') || threadedScripts.includes(f))) {
  fs.copyFileSync(path.join(wasmDir, f), path.join(dist, f));
}

if (watch) {
  for (const options of builds) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
