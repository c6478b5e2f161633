// Bundles the TypeScript into one ESM file per entry point (dist/tapvs.js, dist/tapvsadm.js), and puts the
// addon beside it, so the image and real servers need node and these two files only.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: { tapvs: 'src/cli/tapvs.ts', tapvsadm: 'src/cli/tapvsadm.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Some dependencies still call require(); give the ESM bundle one.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __tapvsRequire } from 'node:module';\nconst require = __tapvsRequire(import.meta.url);" },
});
chmodSync('dist/tapvs.js', 0o755);
chmodSync('dist/tapvsadm.js', 0o755);
// Replace, never overwrite: a running tapvs has the old file mapped, and rewriting it in place crashes it.
if (existsSync('addon/build/Release/tapvs.node')) {
  copyFileSync('addon/build/Release/tapvs.node', 'dist/tapvs.node.new');
  renameSync('dist/tapvs.node.new', 'dist/tapvs.node');
}
