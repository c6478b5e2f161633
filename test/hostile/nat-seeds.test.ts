// What the seeds warn about NAT, on real hosts.
// Seed 001, path MTU through NAT: the director's client side has MTU 1400 and its server side
// 1300. A NAT server's full-size replies and a client's full-size uploads are both too big on
// the way out; frag-needed must quote the packet as its sender knows it and reach that sender
// (it used to quote the rewritten packet and go to the VIP: 0 bytes of a 2 MB download in 15 s).
// Seed 003, one-packet scheduling through NAT: replies must leave with the VIP as source.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('NAT as the seeds want it');
const prefix = uniquePrefix('ns');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const spec = directorLab(prefix, 'nat');
spec.routers[0].interfaces[0].mtu = 1400; // lan: toward the client
spec.routers[0].interfaces[1].mtu = 1300; // private: toward the real servers
let state: LabState;
const children: ReturnType<typeof spawnOnHost>[] = [];

const adm = (...args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
const listening = async (host: string, proto: 't' | 'u', port: number) => {
  for (let i = 0; i < 100 && !new RegExp(`:${port}\\b`).test(onHost(prefix, host, ['ss', `-l${proto}nH`]).stdout); i++) await sleep(50);
};

// Reads a request body of the length it declares and answers with its size and sha256.
const SINK = `
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8081)); s.listen(8)
while True:
    c, _ = s.accept(); c.settimeout(20); data = b''
    try:
        while b'\\r\\n\\r\\n' not in data: data += c.recv(65536)
        head, body = data.split(b'\\r\\n\\r\\n', 1)
        n = int([l.split(b':')[1] for l in head.split(b'\\r\\n') if l.lower().startswith(b'content-length')][0])
        while len(body) < n: body += c.recv(65536)
        out = ('%d %s' % (len(body), hashlib.sha256(body).hexdigest())).encode()
        c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(out) + out)
    except Exception: pass
    c.close()
`;

test.before(async () => {
  state = await startLab(spec);
  children.push(spawnOnHost(prefix, 'rs1', ['python3', '-c', SINK]));
  for (const [i, rs] of ['rs1', 'rs2'].entries()) {
    children.push(spawnOnHost(prefix, rs, ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '-u', 'root', '--pid-file=', `--listen-address=10.20.0.${11 + i}`, '--bind-interfaces', `--address=/svc.test/192.0.2.${i + 1}`]));
  }
  await listening('rs1', 't', 8081);
  await listening('rs2', 'u', 53);
  for (const args of [
    ['-A', '-t', `${VIP}:8081`, '-s', 'rr'],
    ['-a', '-t', `${VIP}:8081`, '-r', '10.20.0.11:8081', '-m'],
    ['-A', '-u', `${VIP}:53`, '-s', 'rr', '--ops'],
    ['-a', '-u', `${VIP}:53`, '-r', '10.20.0.11:53', '-m'],
    ['-a', '-u', `${VIP}:53`, '-r', '10.20.0.12:53', '-m'],
  ]) {
    const r = adm(...args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
});
test.after(async () => {
  for (const c of children) await stopChild(c);
  await stopLab(prefix);
});

test('a download from a NAT server through a narrower client side completes (frag-needed reaches the server)', async () => {
  const want = new Set(['rs1', 'rs2'].map((h) => onHost(prefix, h, ['sha256sum', `/tmp/${prefix}-${h}-www/blob`]).stdout.split(' ')[0]));
  const started = Date.now();
  const got = onHost(prefix, 'client', ['sh', '-c', `curl -s --max-time 15 http://${VIP}/blob | sha256sum`], 30_000).stdout.split(' ')[0];
  const seconds = (Date.now() - started) / 1000;
  const c = await routerCounters(state, 'director');
  const cached = onHost(prefix, 'rs1', ['ip', 'route', 'get', '10.0.0.2']).stdout + onHost(prefix, 'rs2', ['ip', 'route', 'get', '10.0.0.2']).stdout;
  console.log(`  2 MiB download through MTU 1400: ${want.has(got) ? 'intact' : 'FAILED'} in ${seconds.toFixed(1)} s; frag-needed sent ${c.router.frag_needed}, rate-limited ${c.router.icmp_rate_limited}`);
  assert.ok(want.has(got), 'the download arrived intact');
  assert.match(cached, /mtu 1400/, 'the real server learnt the path MTU');
});

test('an upload through a narrower server side completes (frag-needed quotes what the client sent)', () => {
  const r = onHost(prefix, 'client', ['sh', '-c', `head -c 2097152 /dev/urandom > /tmp/${prefix}-up && sha256sum /tmp/${prefix}-up && curl -s --max-time 15 --data-binary @/tmp/${prefix}-up -H 'Content-Type: application/octet-stream' http://${VIP}:8081/; rm -f /tmp/${prefix}-up`], 30_000);
  const [sum, answer] = [r.stdout.split(' ')[0], r.stdout.split('\n')[1] ?? ''];
  console.log(`  2 MiB upload through MTU 1300: server got ${answer.trim() || 'nothing'}`);
  assert.is(answer.trim(), `2097152 ${sum}`);
  assert.match(onHost(prefix, 'client', ['ip', 'route', 'get', VIP]).stdout, /mtu 1300/, 'the client learnt the path MTU to the VIP');
});

test('one-packet scheduling through NAT: every reply leaves from VIP:53', async () => {
  const wan = await Capture.start(prefix, 'br-wan', 'udp port 53');
  const answers = Array.from({ length: 6 }, () => onHost(prefix, 'client', ['dig', '+short', '+tries=1', '+time=2', '-b', '10.0.0.2#40053', `@${VIP}`, 'svc.test']).stdout.trim());
  const sources = await wan.fields('udp.srcport == 53', ['ip.src', 'udp.srcport']);
  console.log(`  6 queries from one port with --ops: answers ${answers.join(', ')}; reply sources ${[...new Set(sources.map((s) => s.join(':')))].join(', ')}`);
  assert.equal(new Set(answers), new Set(['192.0.2.1', '192.0.2.2']), 'spread over both servers, each answer accepted by dig');
  assert.is(sources.length, 6);
  assert.ok(sources.every(([ip, port]) => ip === VIP && port === '53'), 'no reply leaked a private address');
});

if (!skipUnlessRoot('hostile/nat-seeds')) test.run();
