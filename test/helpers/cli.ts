// Running the built tapvs command the way a user does.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvs.js');

export function tapvs(args: string[], timeoutMs = 60_000): { status: number; stdout: string; stderr: string } {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  const r = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
