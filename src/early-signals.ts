// Imported first by the tapvs entry point, so that it runs before anything else can wait.
// Without a listener, SIGHUP kills Node and SIGUSR1 opens its inspector on 127.0.0.1:9229;
// a signal that reaches `tapvs run` while it starts (loading, opening TAPs, waiting for a
// NIC's link) must do neither. The daemon replaces these listeners with its own once ready.

export const EARLY_SIGNALS = ['SIGHUP', 'SIGUSR1'] as const;

const early = (signal: NodeJS.Signals) => process.stderr.write(`tapvs: ${signal} while starting: ignored\n`);

if (process.argv[2] === 'run') for (const s of EARLY_SIGNALS) process.on(s, early);

/** Removes the start-up listeners (the caller has installed its own). */
export function releaseEarlySignals(): void {
  for (const s of EARLY_SIGNALS) process.off(s, early);
}
