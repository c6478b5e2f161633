// Health-check settings that used to kill tapvs (each an unhandled rejection), and probes that
// could fork-storm the box. Bad settings are config errors naming the field; a probe the
// runtime cannot start is a failed probe; a command probe's whole process group dies at its
// timeout; and no more than the cap run at once.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/control/config.js';
import { DEFAULT_HEALTH, HealthChecker, ProbeLimiter, probe, type HealthCheckConfig } from '../../src/control/health.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-health-'));
const rejections: unknown[] = [];
const onRejection = (e: unknown) => rejections.push(e);
const check = (over: Partial<HealthCheckConfig>): HealthCheckConfig => ({ ...DEFAULT_HEALTH, type: 'tcp', timeoutMs: 500, ...over });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = { info: () => {}, warn: () => {} };

test.before(() => void process.on('unhandledRejection', onRejection));
test.after(() => {
  process.off('unhandledRejection', onRejection);
  rmSync(dir, { recursive: true, force: true });
});

function configError(healthCheck: unknown, port = 80, serverPort?: number): string {
  const config = {
    interfaces: [{ name: 'lan', tap: 'tap0', addresses: ['10.0.0.1/24'] }],
    services: [{ protocol: 'udp', vip: '10.0.0.2', port, healthCheck, realServers: [{ address: '10.0.0.11', ...(serverPort === undefined ? {} : { port: serverPort }) }] }],
  };
  try {
    parseConfig(config);
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as Error).message;
  }
  return 'accepted';
}

test('bad probe settings are config errors that name the field', () => {
  assert.match(configError({ type: 'http', path: '/a b' }), /\$\.services\[0\]\.healthCheck\.path: '\/a b' is not an HTTP path/);
  assert.match(configError({ type: 'http', path: 'index.html' }), /healthCheck\.path: .* must start with \//);
  assert.match(configError({ type: 'command', command: ['/bin/check', 'a\u0000b'] }), /healthCheck\.command\[1\]: must not contain a NUL/);
  assert.match(configError({ type: 'udp' }, 0), /healthCheck\.port: realServers\[0\] has no port of its own/);
  assert.is(configError({ type: 'udp', port: 53 }, 0), 'accepted');
  assert.is(configError({ type: 'http', path: '/a%20b?x=1' }), 'accepted');
});

test('attack: settings the runtime refuses make a failed probe, never an unhandled rejection', async () => {
  assert.is(await probe(check({ type: 'http', path: '/a b' }), '127.0.0.1', 9), false);
  assert.is(await probe(check({ type: 'udp' }), '127.0.0.1', 0), false);
  assert.is(await probe(check({ type: 'tcp' }), '127.0.0.1', 70000), false);
  assert.is(await probe(check({ type: 'command', command: ['/bin/true\u0000x'] }), '127.0.0.1', 9), false);
  assert.is(await probe(check({ type: 'command', command: ['/nonexistent/probe'] }), '127.0.0.1', 9), false);
  // And inside a running checker, round after round.
  const seen: boolean[] = [];
  const c = new HealthChecker({ name: 'bad', addr: '127.0.0.1', port: 0, check: check({ type: 'udp', intervalMs: 20, timeoutMs: 10, fall: 1 }), setHealthy: (ok) => seen.push(ok) }, quiet);
  c.start();
  await sleep(200);
  c.stop();
  assert.equal(seen, [false]);
  await sleep(20);
  assert.equal(rejections, []);
});

test('a command probe that overruns its timeout dies with everything it started', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  const started = Date.now();
  const ok = await probe(check({ type: 'command', timeoutMs: 300, command: ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`, 'probe'] }), '127.0.0.1', 9);
  const took = Date.now() - started;
  assert.is(ok, false);
  assert.ok(took < 1500, `took ${took} ms`);
  await sleep(100);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  // Killed, it may linger as a zombie until its new parent reaps it: alive means not 'Z'.
  const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
  console.log(`  a probe running 'sleep 30' in the background timed out after ${took} ms; its grandchild ${pid}: ${state === 'gone' || state === 'Z' ? 'killed' : `still running (${state})`}`);
  assert.ok(state === 'gone' || state === 'Z', 'the background sleep was killed with its group');
});

test('attack: 40 servers probed at once run at most the cap at once', async () => {
  const log = join(dir, 'concurrency.log');
  const limiter = new ProbeLimiter(4);
  const cmd = ['sh', '-c', `echo + >> ${log}; sleep 0.15; echo - >> ${log}`, 'probe'];
  const checkers = Array.from({ length: 40 }, (_, i) => new HealthChecker({ name: `s${i}`, addr: '127.0.0.1', port: 1, check: check({ type: 'command', command: cmd, intervalMs: 600, timeoutMs: 500 }), setHealthy: () => {} }, quiet, limiter));
  for (const c of checkers) c.start();
  await sleep(2000);
  for (const c of checkers) c.stop();
  await sleep(400);
  let now = 0, peak = 0, runs = 0;
  for (const mark of readFileSync(log, 'utf8').split('\n')) {
    if (mark === '+') {
      runs++;
      peak = Math.max(peak, ++now);
    } else if (mark === '-') now--;
  }
  console.log(`  40 checkers, cap 4: ${runs} probes in 2 s, at most ${peak} processes at once (limiter peak ${limiter.peak})`);
  assert.ok(limiter.peak <= 4 && peak <= 4, `peak ${peak}`);
  assert.ok(runs >= 8, 'probes still ran');
});

test.run();
