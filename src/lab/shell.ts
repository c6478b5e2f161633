// Running the system commands a lab is built from (ip, sysctl), with errors that show them.

import { spawnSync } from 'node:child_process';

export class CommandError extends Error {}

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: 30_000 });
  if (r.error) throw new CommandError(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0 && !opts.allowFail) {
    throw new CommandError(`${cmd} ${args.join(' ')}: exit ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

/** `ip` inside a namespace. */
export function ipIn(ns: string, ...args: string[]): string {
  return run('ip', ['-n', ns, ...args]);
}

/** Any command inside a namespace. */
export function execIn(ns: string, cmd: string[], opts: { allowFail?: boolean } = {}): string {
  return run('ip', ['netns', 'exec', ns, ...cmd], opts);
}

export function listNamespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}
