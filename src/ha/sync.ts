// Connection sync between directors: the master tells its backups of each connection and
// template worth keeping (lvs/director.ts decides which, as the kernel does), in IPVS sync
// protocol version 1 (sync-wire.ts); a backup keeps them with their timeouts, so that when it
// takes over, established connections carry on. Beyond the kernel: a (re)joining director asks
// for the whole table (bulk resync) before it may become master.
//
// A message is built in one ring slot, entry by entry, and leaves when it is full or at the
// next tick: one slot held at a time for the live updates and one for a bulk transfer.

import type { Director } from '../lvs/director.js';
import type { Interface } from '../l2/interface.js';
import type { PacketEngine } from '../io/engine.js';
import { C } from '../l3/counters.js';
import { formatIpv4, type Ipv4 } from '../packet/address.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { IPV4_MIN_HEADER, Ipv4View, PROTO_UDP } from '../packet/ipv4.js';
import { UDP_HEADER, receivedUdpLength, writeUdpHeader } from '../packet/udp.js';
import { multicastMac } from '../packet/vrrp.js';
import type { Log, Router } from '../router.js';
import { NONE } from '../lvs/conn-table.js';
import {
  MAX_CONNS_PER_MESSAGE,
  SYNC_GROUP,
  SYNC_HEADER,
  SYNC_PORT,
  SyncControl,
  connLength,
  newSyncConn,
  readMessage,
  writeConn,
  writeControl,
  writeHeader,
  type SyncConn,
  type SyncReader,
} from './sync-wire.js';

/** The kernel's default sync_ttl: sync stays on its link. */
const MULTICAST_TTL = 1;
const HEADERS = ETH_HEADER + IPV4_MIN_HEADER + UDP_HEADER;
/** Entries a bulk transfer sends per tick, and ids it may scan for them: a tick's cost is bounded. */
const BULK_ENTRIES_PER_TICK = 8192;
const BULK_SCAN_PER_TICK = 262_144;
const SYNC_MULTICAST_MAC = multicastMac(SYNC_GROUP);

export interface SyncSettings {
  iface: Interface;
  syncid: number;
  /** Unicast updates to this peer rather than multicast. */
  peer: Ipv4 | null;
}

/** A sync message being filled in a slot, for one destination. */
class OpenMessage {
  slot = -1;
  count = 0;
  length = SYNC_HEADER;
  /** `src` 0: the sync interface's address. */
  constructor(
    public dst: Ipv4,
    public src: Ipv4 = 0,
  ) {}
}

export class SyncDaemon implements SyncReader {
  /** Send updates (we are master, or a master daemon was started). */
  sending = false;
  /** Keep what a master sends (we are backup, or a backup daemon was started). */
  receiving = false;
  /** Only this address's messages are kept, when set (the peer, or the VRRP master we follow). */
  trustedSource: Ipv4 | null = null;
  /** Told when a peer says its table is complete (the count it sent). */
  onTableComplete: ((from: Ipv4, count: number) => void) | null = null;

  private readonly b: Uint8Array;
  private readonly live: OpenMessage;
  private bulk: { message: OpenMessage; cursor: number; sent: number } | null = null;
  private readonly scratch: SyncConn = newSyncConn();
  private readonly incoming: SyncConn = newSyncConn();
  private readonly ip = new Ipv4View();
  private readonly maxPayload: number;
  private readonly source: Ipv4;
  /** The source and destination of the message being read. */
  private from: Ipv4 = 0;
  private to: Ipv4 = 0;

  constructor(
    private readonly router: Router,
    private readonly engine: PacketEngine,
    private readonly director: Director,
    readonly settings: SyncSettings,
    private readonly log: Log,
  ) {
    this.b = engine.bytes;
    this.maxPayload = Math.min(settings.iface.mtu, engine.layout.slotSize - engine.layout.headroom - ETH_HEADER) - IPV4_MIN_HEADER - UDP_HEADER;
    this.live = new OpenMessage(settings.peer ?? SYNC_GROUP);
    this.source = settings.iface.sourceFor(settings.peer ?? 0) ?? 0;
    director.onSync = (e) => {
      if (this.sending) this.add(this.live, e);
    };
  }

  /** Sends what waits, and the next part of a bulk transfer. */
  tick(): void {
    this.send(this.live);
    const bulk = this.bulk;
    if (bulk === null) return;
    const t = this.director.table;
    bulk.cursor = t.page(bulk.cursor, BULK_ENTRIES_PER_TICK, BULK_SCAN_PER_TICK, (e) => {
      this.add(bulk.message, e);
      bulk.sent++;
    });
    if (bulk.cursor !== NONE) return;
    this.send(bulk.message);
    this.sendControl(bulk.message.dst, SyncControl.TableComplete, bulk.sent, bulk.message.src);
    this.log.info({ peer: formatIpv4(bulk.message.dst), entries: bulk.sent }, 'sync: sent the whole table to a peer');
    this.bulk = null;
  }

  /** Asks `peer` for its whole table (it answers with a bulk transfer, then TableComplete). */
  requestTable(peer: Ipv4): void {
    this.sendControl(peer, SyncControl.RequestTable, 0);
  }

  stop(): void {
    this.director.onSync = null;
    for (const m of [this.live, this.bulk?.message]) if (m && m.slot >= 0) this.engine.release(m.slot);
    this.live.slot = -1;
    this.bulk = null;
  }

  // ---- sending

  private add(m: OpenMessage, e: number): void {
    this.director.describeForSync(e, this.scratch, this.router.clock);
    const length = connLength(this.scratch);
    if (m.slot >= 0 && (m.length + length > this.maxPayload || m.count === MAX_CONNS_PER_MESSAGE)) this.send(m);
    if (m.slot < 0) {
      m.slot = this.engine.allocate(); // counted by the engine when the pool is empty
      if (m.slot < 0) {
        this.router.stats[C.sync_entries_dropped]++;
        return;
      }
      m.count = 0;
      m.length = SYNC_HEADER;
    }
    writeConn(this.b, this.payloadAt(m.slot) + m.length, this.scratch);
    m.length += length;
    m.count++;
    this.router.stats[C.sync_entries_sent]++;
  }

  private payloadAt(slot: number): number {
    return this.engine.slotOffset(slot) + this.engine.layout.headroom + HEADERS;
  }

  private send(m: OpenMessage): void {
    if (m.slot < 0 || m.count === 0) return;
    writeHeader(this.b, this.payloadAt(m.slot), this.settings.syncid, m.count, m.length);
    this.transmit(m.slot, m.dst, m.length, m.src);
    m.slot = -1;
  }

  /** UDP and IPv4 headers in front of the payload, and out: multicast on the sync interface, unicast routed. */
  private transmit(slot: number, dst: Ipv4, payload: number, from = 0): void {
    const offset = this.engine.layout.headroom;
    const ipAt = this.engine.slotOffset(slot) + offset + ETH_HEADER;
    const udp = ipAt + IPV4_MIN_HEADER;
    const b = this.b;
    const src = from || this.source;
    const udpLength = UDP_HEADER + payload;
    writeUdpHeader(b, udp, SYNC_PORT, SYNC_PORT, udpLength, src, dst);
    const multicast = dst === SYNC_GROUP;
    this.ip.point(b, ipAt).write({ totalLength: IPV4_MIN_HEADER + udpLength, id: this.router.nextIpId(), ttl: multicast ? MULTICAST_TTL : 64, protocol: PROTO_UDP, src, dst });
    this.router.stats[C.sync_messages_sent]++;
    const frameLength = ETH_HEADER + IPV4_MIN_HEADER + udpLength;
    if (multicast) this.router.transmitMulticast(this.settings.iface, slot, offset, frameLength, SYNC_MULTICAST_MAC, this.settings.iface.mac);
    else this.router.output(slot, offset, frameLength);
  }

  // ---- receiving

  /** A UDP packet for us or the sync group: true when it was for port 8848 (then it is counted here). */
  receive(ipAt: number, length: number): boolean {
    const b = this.b;
    const ip = this.ip.point(b, ipAt);
    if (ip.protocol !== PROTO_UDP) return false;
    const udp = ip.payloadOffset;
    const udpLength = length - ip.headerLength;
    if (udpLength < UDP_HEADER || ((b[udp + 2] << 8) | b[udp + 3]) !== SYNC_PORT) return false;
    const stats = this.router.stats;
    stats[C.sync_messages_received]++;
    const declared = receivedUdpLength(b, udp, udpLength, ip.src, ip.dst);
    if (declared < 0) {
      stats[C.sync_messages_dropped]++;
      return true;
    }
    this.from = ip.src;
    this.to = ip.dst;
    const refused = readMessage(b, udp + UDP_HEADER, declared - UDP_HEADER, this.settings.syncid, this.incoming, this);
    if (refused !== null) stats[C.sync_messages_dropped]++;
    return true;
  }

  conn(c: SyncConn): void {
    const stats = this.router.stats;
    if (!this.receiving || (this.trustedSource !== null && this.from !== this.trustedSource)) {
      stats[C.sync_entries_dropped]++;
      return;
    }
    stats[this.director.importSynced(c, this.router.clock) ? C.sync_entries_received : C.sync_entries_dropped]++;
  }

  control(op: SyncControl, argument: number): void {
    if (op === SyncControl.RequestTable) {
      if (!this.sending) return; // only a master's table is worth having
      if (this.bulk !== null) return; // one transfer at a time: a second asker asks again
      this.log.info({ peer: formatIpv4(this.from), entries: this.director.table.size }, 'sync: a peer asks for the whole table');
      // Answered from the address it was asked at: the asker trusts the master it follows.
      this.bulk = { message: new OpenMessage(this.from, this.to), cursor: 0, sent: 0 };
    } else if (op === SyncControl.TableComplete) {
      this.onTableComplete?.(this.from, argument);
    }
  }

  private sendControl(to: Ipv4, op: SyncControl, argument: number, from = 0): void {
    const slot = this.engine.allocate();
    if (slot < 0) return;
    this.transmit(slot, to, writeControl(this.b, this.payloadAt(slot), this.settings.syncid, op, argument), from);
  }
}
