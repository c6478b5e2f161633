import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer as createHttp } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { DEFAULT_HEALTH, HealthChecker, probe, type HealthCheckConfig } from '../../src/control/health.js';

const check = (over: Partial<HealthCheckConfig>): HealthCheckConfig => ({ ...DEFAULT_HEALTH, type: 'tcp', timeoutMs: 500, ...over });

test('rise and fall count consecutive results; only transitions are reported', () => {
  const calls: boolean[] = [];
  const logs: string[] = [];
  const c = new HealthChecker({ name: 'x', addr: '127.0.0.1', port: 1, check: check({ rise: 2, fall: 3 }), setHealthy: (ok) => calls.push(ok) }, { info: (_o, m) => logs.push(m), warn: (_o, m) => logs.push(m) });
  for (const ok of [false, false, true, false, false, false, false, true, true]) c.observe(ok);
  assert.equal(calls, [false, true], 'a success resets the fall streak; two successes bring it back');
  assert.is(logs.length, 2);
});

test('tcp: an open port is healthy, a closed one is not', async () => {
  const server = createServer((s) => s.end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  assert.is(await probe(check({}), '127.0.0.1', port), true);
  server.close();
  await new Promise((r) => server.once('close', r));
  assert.is(await probe(check({}), '127.0.0.1', port), false);
});

test('http: healthy only with the expected status', async () => {
  const server = createHttp((req, res) => res.writeHead(req.url === '/ok' ? 200 : 500).end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  assert.is(await probe(check({ type: 'http', path: '/ok' }), '127.0.0.1', port), true);
  assert.is(await probe(check({ type: 'http', path: '/broken' }), '127.0.0.1', port), false);
  assert.is(await probe(check({ type: 'http', path: '/broken', expectStatus: 500 }), '127.0.0.1', port), true);
  server.close();
});

test('command: exit 0 is healthy; the address and port are appended', async () => {
  assert.is(await probe(check({ type: 'command', command: ['sh', '-c', 'test "$1:$2" = 127.0.0.1:99', 'probe'] }), '127.0.0.1', 99), true);
  assert.is(await probe(check({ type: 'command', command: ['false'] }), '127.0.0.1', 99), false);
  assert.is(await probe(check({ type: 'command', command: ['/nonexistent/probe'] }), '127.0.0.1', 99), false);
});

test('udp: an answer is healthy; silence or port unreachable is not', async () => {
  const { createSocket } = await import('node:dgram');
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  const port = echo.address().port;
  assert.is(await probe(check({ type: 'udp', sendHex: '0001' }), '127.0.0.1', port), true);
  echo.close();
  assert.is(await probe(check({ type: 'udp', sendHex: '0001' }), '127.0.0.1', port), false);
});

test('a probe that hangs fails at its timeout', async () => {
  const started = Date.now();
  assert.is(await probe(check({ type: 'command', command: ['sleep', '5'], timeoutMs: 300 }), '127.0.0.1', 1), false);
  assert.ok(Date.now() - started < 1500);
});

test.run();
