// The agent's IP-in-IP decapsulation on the in-memory backend.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decapsulator, RAW_PORT, TUN_PORT } from '../../src/agent/decap.js';
import { PacketEngine } from '../../src/io/engine.js';
import { MemoryBackend } from '../../src/io/memory.js';
import { ip, ipv4Packet, udpPayload } from '../helpers/frames.js';

function setup(directors: string[] = []) {
  let backend!: MemoryBackend;
  const engine = new PacketEngine((w) => (backend = new MemoryBackend({ slotCount: 256, ringSize: 64, maxPorts: 2 }, w)), { receive: () => undefined });
  const decap = new Decapsulator(engine, new Set(directors.map(ip)), new Set([ip('192.168.1.2')]));
  engine.handler = decap;
  engine.openRawIpip(RAW_PORT);
  engine.openTap(TUN_PORT, 'vip', 'attach', 'tun');
  const out: Uint8Array[] = [];
  backend.listen(TUN_PORT, (p) => out.push(p));
  const send = (packet: Uint8Array) => {
    backend.inject(RAW_PORT, packet);
    engine.poll();
  };
  return { decap, out, send };
}

const inner = ipv4Packet({ src: '10.0.0.2', dst: '192.168.1.2', protocol: 17, payload: udpPayload('10.0.0.2', '192.168.1.2', 1, 2, new Uint8Array(10)) });
const tunnelled = (from = '192.168.1.10', payload = inner, protocol = 4) => ipv4Packet({ src: from, dst: '192.168.1.11', protocol, payload });

test('the inner packet leaves through the TUN, byte for byte', () => {
  const t = setup(['192.168.1.10']);
  t.send(tunnelled());
  assert.equal([...t.out[0]], [...inner]);
  assert.is(t.decap.counters.decapsulated, 1);
});

test('attack: a tunnelled packet for anything but this host\'s VIPs is dropped, counted', () => {
  const t = setup(['192.168.1.10']);
  for (const dst of ['127.0.0.1', '192.168.1.11', '10.9.9.9']) {
    t.send(tunnelled('192.168.1.10', ipv4Packet({ src: '10.0.0.2', dst, protocol: 17, payload: udpPayload('10.0.0.2', dst, 1, 2, new Uint8Array(10)) })));
  }
  assert.is(t.out.length, 0);
  assert.is(t.decap.counters.not_for_vip, 3);
});

test('refused: other protocols, unlisted directors, lying inner lengths, runts', () => {
  const t = setup(['192.168.1.10']);
  t.send(tunnelled('192.168.1.10', inner, 47));
  t.send(tunnelled('192.168.1.66'));
  const liar = inner.slice();
  liar[2] = 0x7f;
  t.send(tunnelled('192.168.1.10', liar));
  t.send(new Uint8Array(30));
  assert.is(t.out.length, 0);
  assert.equal(t.decap.counters, { decapsulated: 0, not_ipip: 1, malformed: 2, foreign_director: 1, not_for_vip: 0, from_tun: 0 });
});

test('without a director list, any source may tunnel', () => {
  const t = setup();
  t.send(tunnelled('172.16.0.1'));
  assert.is(t.out.length, 1);
});

test.run();
