// The doctor's live ARP probe, through a throwaway TAP the kernel sees as one more link:
//  1. an ARP probe "who-has VIP" (sender 0.0.0.0) goes in; this host must not answer;
//  2. a datagram from the VIP to a test-net address routed out of the TAP makes the kernel
//     ask ARP for it; that request must carry a real address as sender, never the VIP.
// Both answer for the host's "all" settings, which the kernel combines with each interface's.

import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { PacketEngine } from '../io/engine.js';
import { loadNative } from '../io/native.js';
import { formatIpv4, parseIpv4, readIpv4 } from '../packet/address.js';
import { ARP_LENGTH, ARP_REPLY, ARP_REQUEST, ArpView } from '../packet/arp.js';
import { BROADCAST_MAC, ZERO_MAC } from '../packet/address.js';
import { ETHERTYPE_ARP, ETH_HEADER, EthernetView } from '../packet/ethernet.js';

const PROBE_TAP = 'tapvs-probe';
const PROBE_MAC = new Uint8Array([0x02, 0x74, 0x76, 0x70, 0x72, 0x62]);
/** RFC 2544's benchmarking range: never a real neighbour. */
const TEST_NET_PEER = '198.18.0.1';

export interface ProbeResult {
  /** This host answered "who-has VIP". */
  answered: boolean;
  /** The sender address of the ARP request the host made from the VIP (null: none seen). */
  requestSender: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function arpProbe(vip: string, waitMs = 400): Promise<ProbeResult> {
  const native = loadNative();
  const frames: Uint8Array[] = [];
  const engine: PacketEngine = new PacketEngine((w) => new native.Engine({ maxPorts: 1, slotCount: 256 }, w), {
    receive(_port, slot, offset, length) {
      const at = engine.slotOffset(slot) + offset;
      frames.push(engine.bytes.slice(at, at + length));
      engine.release(slot);
    },
  });
  const result: ProbeResult = { answered: false, requestSender: null };
  const vipAddr = parseIpv4(vip)!;
  try {
    engine.openTap(0, PROBE_TAP, 'create');
    // 1. Who has the VIP? (sender 0.0.0.0: a probe, which the kernel answers without a route)
    const slot = engine.allocate();
    const at = engine.slotOffset(slot) + engine.layout.headroom;
    new EthernetView().point(engine.bytes, at).write(BROADCAST_MAC, PROBE_MAC, ETHERTYPE_ARP);
    new ArpView().point(engine.bytes, at + ETH_HEADER).write(ARP_REQUEST, PROBE_MAC, 0, ZERO_MAC, vipAddr);
    engine.transmit(0, slot, engine.layout.headroom, ETH_HEADER + ARP_LENGTH);
    engine.flush();
    await sleep(waitMs);
    const arp = new ArpView();
    const arpFrames = () => frames.filter((f) => f.length >= ETH_HEADER + ARP_LENGTH && ((f[12] << 8) | f[13]) === ETHERTYPE_ARP);
    result.answered = arpFrames().some((f) => arp.point(f, ETH_HEADER).operation === ARP_REPLY && arp.senderIp === vipAddr);

    // 2. The host's own request, for a datagram sent from the VIP out of the probe link.
    spawnSync('ip', ['route', 'add', `${TEST_NET_PEER}/32`, 'dev', PROBE_TAP]);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => {
      socket.once('error', () => resolve());
      socket.bind(0, vip, () => socket.send(Buffer.from('tapvs probe'), 9, TEST_NET_PEER, () => resolve()));
    });
    await sleep(waitMs);
    socket.close();
    const peer = parseIpv4(TEST_NET_PEER)!;
    for (const f of arpFrames()) {
      const a = arp.point(f, ETH_HEADER);
      if (a.operation === ARP_REQUEST && a.targetIp === peer) result.requestSender = formatIpv4(readIpv4(f, ETH_HEADER + 14));
    }
  } finally {
    spawnSync('ip', ['route', 'del', `${TEST_NET_PEER}/32`, 'dev', PROBE_TAP]);
    engine.destroy(); // the TAP was ours: it goes with its fd
  }
  return result;
}
