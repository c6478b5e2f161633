// The agent's IP-in-IP and IPv6-in-IPv6 decapsulation on the in-memory backend.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decapsulator, RAW6_PORT, RAW_PORT, TUN_PORT } from '../../src/agent/decap.js';
import { a6 } from '../helpers/frames6.js';
import { PacketEngine } from '../../src/io/engine.js';
import { MemoryBackend } from '../../src/io/memory.js';
import { ip, ipv4Packet, udpPayload } from '../helpers/frames.js';

const VIP6 = '2001:db8:1::2';

function setup(directors: string[] = []) {
  let backend!: MemoryBackend;
  const engine = new PacketEngine((w) => (backend = new MemoryBackend({ slotCount: 256, ringSize: 64, maxPorts: 3 }, w)), { receive: () => undefined });
  const v4 = directors.filter((d) => !d.includes(':'));
  const v6 = directors.filter((d) => d.includes(':'));
  const decap = new Decapsulator(engine, new Set(v4.map(ip)), new Set([ip('192.168.1.2')]), { directors: v6.map(a6), vips: [a6(VIP6)] });
  engine.handler = decap;
  engine.openRawTunnel(RAW_PORT, 4);
  engine.openRawTunnel(RAW6_PORT, 6);
  engine.openTap(TUN_PORT, 'vip', 'attach', 'tun');
  const out: Uint8Array[] = [];
  backend.listen(TUN_PORT, (p) => out.push(p));
  const send = (packet: Uint8Array, port = RAW_PORT) => {
    backend.inject(port, packet);
    engine.poll();
  };
  return { decap, out, send };
}

/** A bare IPv6 packet (no link layer), UDP inside, with `extra` bytes of padding past its length. */
function packet6(src: string, dst: string, payloadLength = 18, extra = 0): Uint8Array {
  const p = new Uint8Array(40 + payloadLength + extra);
  p[0] = 0x60;
  p[4] = payloadLength >> 8;
  p[5] = payloadLength & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(a6(src), 8);
  p.set(a6(dst), 24);
  return p;
}
/** What the raw IPv6 socket port delivers: the outer source, then the inner packet. */
const fromRaw6 = (director: string, inner: Uint8Array) => {
  const f = new Uint8Array(16 + inner.length);
  f.set(a6(director), 0);
  f.set(inner, 16);
  return f;
};

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

test('IPv6-in-IPv6: the inner packet leaves through the TUN byte for byte; foreign directors, other VIPs, lies and runts are counted drops', () => {
  const t = setup(['192.168.1.10', '2001:db8:1::a']);
  const inner6 = packet6('2001:db8:10::2', VIP6);
  t.send(fromRaw6('2001:db8:1::a', inner6), RAW6_PORT);
  assert.equal([...t.out[0]], [...inner6], 'the inner packet, nothing of the prefix');
  t.send(fromRaw6('2001:db8:1::a', packet6('2001:db8:10::2', VIP6, 18, 30)), RAW6_PORT);
  assert.is(t.out[1].length, 58, 'trailing bytes past the payload length stay behind');
  t.send(fromRaw6('2001:db8:1::66', inner6), RAW6_PORT); // not a listed director
  t.send(fromRaw6('2001:db8:1::a', packet6('2001:db8:10::2', '2001:db8:1::b')), RAW6_PORT); // not our VIP
  t.send(fromRaw6('2001:db8:1::a', packet6('2001:db8:10::2', VIP6).subarray(0, 50)), RAW6_PORT); // payload length lies
  t.send(fromRaw6('2001:db8:1::a', inner.slice()), RAW6_PORT); // IPv4 inside an IPv6 tunnel
  t.send(new Uint8Array(20), RAW6_PORT); // a runt
  assert.is(t.out.length, 2);
  assert.equal(t.decap.counters, { decapsulated: 2, not_ipip: 0, malformed: 3, foreign_director: 1, not_for_vip: 1, from_tun: 0 });
});

test('a director list of IPv4 addresses only lets no IPv6 tunnel in', () => {
  const t = setup(['192.168.1.10']);
  t.send(fromRaw6('2001:db8:1::a', packet6('2001:db8:10::2', VIP6)), RAW6_PORT);
  assert.is(t.out.length, 0);
  assert.is(t.decap.counters.foreign_director, 1);
});

test.run();
