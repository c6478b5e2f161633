// High availability on the router: VRRP instances that move addresses between directors (over
// IPv4, or for an instance of IPv6 addresses only, over IPv6 from the link-local address), and
// the sync daemon that copies the connection table to the backup. The router hands this the
// packets of the groups it joined (224.0.0.18 for VRRP, 224.0.0.81 for sync) and unicast
// sync; this decides which addresses the router answers and serves.
//
// A director that starts with sync on holds back from mastership until it has its peer's
// table (a bulk resync), or until it is clear there is no peer to ask: the rebooted-master-
// with-an-empty-table failure of keepalived + IPVS.

import type { HaConfig } from '../control/config.js';
import type { Director } from '../lvs/director.js';
import type { Interface } from '../l2/interface.js';
import type { PacketEngine } from '../io/engine.js';
import { C } from '../l3/counters.js';
import { formatIpv4, type Ipv4 } from '../packet/address.js';
import { IPV6_BYTES, formatIpv6, ipv6Equals, isLinkLocal6, type Ipv6 } from '../packet/address6.js';
import { ETHERTYPE_IPV6, IPV6_HEADER, Ipv6View } from '../packet/ipv6.js';
import { ETH_HEADER } from '../packet/ethernet.js';
import { IPV4_MIN_HEADER, Ipv4View } from '../packet/ipv4.js';
import { PROTO_VRRP, VRRP_GROUP, VRRP_GROUP6, VRRP_MAC6, VRRP_TTL, VrrpView, multicastMac, virtualMac } from '../packet/vrrp.js';
import type { LocalListener, Log, Router } from '../router.js';
import { SyncDaemon } from './sync.js';
import { SYNC_GROUP } from './sync-wire.js';
import { VRRP_STATE_NAMES, VrrpInstance, VrrpState, type VrrpAddress } from './vrrp.js';

/** How often timers run: VRRP deadlines are met to within this. */
const TICK_MS = 20;
/** A bulk resync request is repeated this often until the table arrives (UDP may lose it). */
const RESYNC_RETRY_MS = 1000;
const VRRP_MULTICAST_MAC = multicastMac(VRRP_GROUP);
/** Log two masters at once at most this often per instance. */
const TWO_MASTERS_LOG_MS = 10_000;
/** After another master was seen, this many advertisements go with gratuitous ARPs. */
const CONTESTED_ADVERTISEMENTS = 3;

/** An IPv6 address as the election compares it: a 128-bit unsigned integer. */
function addressRank6(b: Uint8Array, o = 0): bigint {
  let v = 0n;
  for (let i = 0; i < IPV6_BYTES; i++) v = (v << 8n) | BigInt(b[o + i]);
  return v;
}

function formatRank6(v: bigint): string {
  const b = new Uint8Array(IPV6_BYTES);
  for (let i = IPV6_BYTES - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return formatIpv6(b);
}

const formatVrrpAddress = (a: VrrpAddress): string => (typeof a === 'bigint' ? formatRank6(a) : formatIpv4(a));
/** The IPv4 master that sync follows (ha.vrrp[0] is IPv4 whenever sync follows it). */
const ipv4Of = (a: VrrpAddress | undefined): Ipv4 | null => (typeof a === 'number' ? a : null);

export interface VrrpStatus {
  name: string;
  iface: string;
  vrid: number;
  state: (typeof VRRP_STATE_NAMES)[number];
  priority: number;
  transitions: number;
  master: string | null;
  holding: boolean;
}

export interface SyncStatus {
  /** ipvsadm's daemons: a master sends, a backup keeps what it hears. */
  master: boolean;
  backup: boolean;
  sending: boolean;
  receiving: boolean;
  iface: string;
  syncid: number;
  peer: string | null;
  resync: { state: 'waiting' | 'done' | 'gave up' | 'none'; ms: number | null; entries: number | null };
}

/** One VRRP instance on the router. */
class VirtualRouter {
  readonly instance: VrrpInstance;
  readonly vmac: Uint8Array;
  private twoMastersLoggedAt = -Infinity;
  /** Gratuitous ARPs still owed after becoming master (one now, one with the next advertisement). */
  garpsOwed = 0;
  /**
   * Until then, every advertisement goes with gratuitous ARPs: another master was seen (its
   * advertisement, or its ARP for our address), and the gateway may have followed it. Once it
   * steps down, ours are what the gateway hears last.
   */
  contestedUntil = -Infinity;

  constructor(
    readonly name: string,
    readonly iface: Interface,
    readonly version: 2 | 3,
    readonly useVmac: boolean,
    readonly addresses: { iface: Interface; address: Ipv4 }[],
    /** IPv6 addresses that move with the instance; no IPv4 advertisement lists them. */
    readonly addresses6: { iface: Interface; address: Ipv6 }[],
    /** 6: advertises over IPv6 (its addresses6 listed); 4: over IPv4, addresses6 riding along. */
    readonly family: 4 | 6,
    settings: ConstructorParameters<typeof VrrpInstance>[0],
    private readonly ha: HighAvailability,
  ) {
    this.vmac = virtualMac(settings.vrid);
    this.instance = new VrrpInstance(settings, {
      advertise: (priority) => ha.advertise(this, priority),
      transition: (from, to, reason) => ha.transition(this, from, to, reason),
      twoMasters: (peer, priority) => this.twoMasters({ peer: formatVrrpAddress(peer), peerPriority: priority }, 'we outrank the other master, which should step down'),
    });
  }

  /** Counted always, logged at most every TWO_MASTERS_LOG_MS; we re-announce our addresses for a while. */
  twoMasters(fields: Record<string, unknown>, why: string): void {
    this.ha.router.stats[C.vrrp_two_masters]++;
    const now = performance.now();
    this.contestedUntil = now + CONTESTED_ADVERTISEMENTS * this.instance.settings.intervalCs * 10;
    if (now - this.twoMastersLoggedAt < TWO_MASTERS_LOG_MS) return;
    this.twoMastersLoggedAt = now;
    const s = this.instance.settings;
    this.ha.log.warn({ vrrp: this.name, vrid: s.vrid, priority: s.priority, ...fields }, `vrrp: two masters at once (${why})`);
  }
}

export class HighAvailability implements LocalListener {
  readonly routers: VirtualRouter[] = [];
  sync: SyncDaemon | null = null;
  private syncDaemons = { master: false, backup: false };
  /** The sync daemon follows the first VRRP instance: it sends while that one is master. */
  private followsVrrp = false;
  private resync: { state: SyncStatus['resync']['state']; startedAt: number; lastRequestAt: number; doneMs: number | null; entries: number | null } = { state: 'none', startedAt: 0, lastRequestAt: -Infinity, doneMs: null, entries: null };
  private resyncTimeoutMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private readonly ip = new Ipv4View();
  private readonly ip6 = new Ipv6View();
  private readonly vrrp = new VrrpView();
  private readonly b: Uint8Array;

  constructor(
    readonly router: Router,
    private readonly engine: PacketEngine,
    private readonly director: Director,
    config: HaConfig,
    readonly log: Log,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.b = engine.bytes;
    for (const c of config.vrrp) {
      const iface = router.interfaceByName(c.iface)!;
      // An IPv6 instance advertises from the interface's link-local address (RFC 5798 5.1.2.1).
      const link = c.family === 6 ? router.v6!.linkOf(iface)! : null;
      const source: VrrpAddress = link ? addressRank6(link.linkLocal) : iface.sourceFor(0)!;
      if (link) router.v6!.join(VRRP_GROUP6);
      const addresses = c.addresses.map((a) => ({ iface: router.interfaceByName(a.iface)!, address: a.address }));
      const addresses6 = c.addresses6.map((a) => ({ iface: router.interfaceByName(a.iface)!, address: a.address }));
      this.routers.push(new VirtualRouter(c.name, iface, c.version, c.virtualMac, addresses, addresses6, c.family, { vrid: c.vrid, priority: c.priority, intervalCs: c.advertIntervalMs / 10, preempt: c.preempt, address: source }, this));
      for (const a of addresses) router.setVrrpAddress(a.iface, a.address, false);
      for (const a of addresses6) router.v6?.setVrrpAddress(a.iface, a.address, false);
    }
    if (config.sync) {
      const iface = router.interfaceByName(config.sync.iface)!;
      this.startSync({ iface, syncid: config.sync.syncid, peer: config.sync.peer });
      // With VRRP, sync follows its first instance; without, the directors are all active (ECMP):
      // each sends its own connections and keeps everyone else's, as both ipvsadm daemons at once.
      this.followsVrrp = this.routers.length > 0;
      if (!this.followsVrrp) this.syncDaemons = { master: true, backup: true };
      this.resyncTimeoutMs = config.sync.resyncTimeoutMs;
      if (config.sync.peer !== null && this.sync) this.sync.trustedSource = config.sync.peer;
    }
    this.attach();
  }

  /**
   * Only while there is VRRP or sync to speak does the router offer us multicast and sync, and
   * (once started) our timer run: a director without HA pays for neither.
   */
  private attach(): void {
    const active = this.routers.length > 0 || this.sync !== null;
    this.router.listen(this, active);
    if (active && this.started && this.timer === null) this.timer = setInterval(() => this.tick(), TICK_MS);
    if (!active && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  start(): void {
    const now = this.now();
    if (this.followsVrrp && this.resyncTimeoutMs > 0) {
      this.resync = { state: 'waiting', startedAt: now, lastRequestAt: -Infinity, doneMs: null, entries: null };
      for (const r of this.routers) r.instance.holdMastership = true;
    }
    for (const r of this.routers) r.instance.start(now);
    this.updateSyncRole();
    this.started = true;
    this.attach();
    this.engine.flush();
  }

  /** Graceful stop: a master steps down with priority 0, so its backup takes over at once. */
  stop(): void {
    this.started = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sync?.tick();
    for (const r of this.routers) r.instance.stop();
    this.sync?.stop();
    this.engine.flush();
  }

  tick(): void {
    const now = this.now();
    this.router.beginBatch(); // the clock sync stamps entries with
    if (this.resync.state === 'waiting') this.pursueResync(now);
    for (const r of this.routers) r.instance.tick(now);
    this.sync?.tick();
    this.engine.flush();
  }

  // ---- the sync daemons (ipvsadm --start-daemon / --stop-daemon, or the config's ha.sync)

  /** Starts the sync daemon (the config's, following VRRP), or one of ipvsadm's two (`role`). One interface and syncid at a time. */
  startSync(settings: ConstructorParameters<typeof SyncDaemon>[3], role?: 'master' | 'backup'): void {
    const s = this.sync;
    if (s && (s.settings.iface !== settings.iface || s.settings.syncid !== settings.syncid)) {
      throw new Error(`a sync daemon already runs on ${s.settings.iface.name} with syncid ${s.settings.syncid}: stop it first (tapvsadm --stop-daemon master, --stop-daemon backup)`);
    }
    if (!s) {
      this.sync = new SyncDaemon(this.router, this.engine, this.director, settings, this.log);
      this.sync.onTableComplete = (from, count) => this.resyncComplete(from, count);
      this.attach();
    }
    if (role) {
      this.takeOverFromVrrp();
      this.syncDaemons[role] = true;
    }
    this.updateSyncRole();
  }

  /** ipvsadm's --stop-daemon: the last daemon stopped, sync is off. */
  stopSync(role: 'master' | 'backup'): void {
    if (!this.sync) return;
    this.takeOverFromVrrp();
    this.syncDaemons[role] = false;
    if (this.syncDaemons.master || this.syncDaemons.backup) return this.updateSyncRole();
    this.sync.stop();
    this.sync = null;
    this.attach();
  }

  /**
   * An operator's daemon command ends the config's VRRP-following sync: it stood for both
   * daemons, which now run as commanded. A director holding for its table holds no longer.
   */
  private takeOverFromVrrp(): void {
    if (!this.followsVrrp) return;
    this.followsVrrp = false;
    this.syncDaemons = { master: true, backup: true };
    if (this.sync) this.sync.trustedSource = this.sync.settings.peer;
    if (this.resync.state === 'waiting') this.endResync('gave up', this.now(), null);
  }

  private updateSyncRole(): void {
    const s = this.sync;
    if (!s) return;
    if (this.followsVrrp) {
      const first = this.routers[0].instance;
      s.sending = first.state === VrrpState.Master;
      s.receiving = !s.sending;
      if (s.settings.peer === null) s.trustedSource = ipv4Of(first.master?.address);
    } else {
      s.sending = this.syncDaemons.master;
      s.receiving = this.syncDaemons.backup;
    }
  }

  // ---- bulk resync

  private pursueResync(now: number): void {
    const first = this.routers[0].instance;
    if (now - this.resync.startedAt >= this.resyncTimeoutMs) return this.endResync('gave up', now, null);
    const master = first.master;
    const address = ipv4Of(master?.address);
    if (master === null || address === null) {
      // Nobody has advertised for a whole master-down interval: there is no table to wait for.
      if (now - this.resync.startedAt >= first.masterDownMs) this.endResync('done', now, 0, 'no master heard: nothing to resync');
      return;
    }
    if (now - this.resync.lastRequestAt < RESYNC_RETRY_MS) return;
    this.resync.lastRequestAt = now;
    this.log.info({ master: formatIpv4(address) }, 'sync: asking the master for its whole table before this director may become master');
    this.sync!.trustedSource ??= address;
    this.sync!.requestTable(address);
  }

  private resyncComplete(from: Ipv4, count: number): void {
    if (this.resync.state !== 'waiting' || from !== this.routers[0].instance.master?.address) return; // only the master we asked
    this.endResync('done', this.now(), count, `table received from ${formatIpv4(from)}`);
  }

  private endResync(state: 'done' | 'gave up', now: number, entries: number | null, why = ''): void {
    const ms = Math.round(now - this.resync.startedAt);
    this.resync = { ...this.resync, state, doneMs: ms, entries };
    for (const r of this.routers) r.instance.holdMastership = false;
    if (state === 'done') this.log.info({ ms, entries, connections: this.director.table.size }, `sync: resync complete (${why}); this director may now become master`);
    else this.log.warn({ ms, connections: this.director.table.size }, `sync: no table from a peer within ${this.resyncTimeoutMs} ms; this director may become master without it`);
  }

  // ---- VRRP

  advertise(r: VirtualRouter, priority: number): void {
    const slot = this.engine.allocate(); // counted by the engine when the pool is empty
    if (slot < 0) return;
    const offset = this.engine.layout.headroom;
    const ipAt = this.engine.slotOffset(slot) + offset + ETH_HEADER;
    const s = r.instance.settings;
    const useVmac = r.useVmac && r.instance.state === VrrpState.Master;
    const srcMac = useVmac ? r.vmac : r.iface.mac;
    if (r.family === 6) {
      // Version 3 over IPv6: from the link-local address, hop limit 255, to ff02::12 (RFC 5798 5.1.2).
      const link = this.router.v6!.linkOf(r.iface)!;
      this.ip6.point(this.b, ipAt).write({ trafficClass: 0xc0, payloadLength: 0, nextHeader: PROTO_VRRP, hopLimit: VRRP_TTL, src: link.linkLocal, dst: VRRP_GROUP6 });
      const length = this.vrrp.point(this.b, ipAt + IPV6_HEADER).write6(s.vrid, priority, s.intervalCs, r.addresses6.map((a) => a.address), ipAt);
      this.ip6.point(this.b, ipAt).payloadLength = length;
      this.router.stats[C.vrrp_adverts_sent]++;
      this.router.transmitMulticast(r.iface, slot, offset, ETH_HEADER + IPV6_HEADER + length, VRRP_MAC6, srcMac, ETHERTYPE_IPV6);
    } else {
      const src = s.address as Ipv4;
      const length = this.vrrp.point(this.b, ipAt + IPV4_MIN_HEADER).write(r.version, s.vrid, priority, s.intervalCs, r.addresses.map((a) => a.address), src, VRRP_GROUP);
      this.ip.point(this.b, ipAt).write({ tos: 0xc0, totalLength: IPV4_MIN_HEADER + length, id: this.router.nextIpId(), ttl: VRRP_TTL, protocol: PROTO_VRRP, src, dst: VRRP_GROUP });
      this.router.stats[C.vrrp_adverts_sent]++;
      this.router.transmitMulticast(r.iface, slot, offset, ETH_HEADER + IPV4_MIN_HEADER + length, VRRP_MULTICAST_MAC, srcMac);
    }
    const contested = this.now() < r.contestedUntil;
    if ((r.garpsOwed > 0 || contested) && priority !== 0 && r.instance.state === VrrpState.Master) {
      r.garpsOwed = Math.max(0, r.garpsOwed - 1);
      for (const a of r.addresses) this.router.gratuitousArp(a.iface, a.address);
      for (const a of r.addresses6) this.router.v6?.advertiseVrrpAddress(a.iface, a.address);
    }
  }

  transition(r: VirtualRouter, from: VrrpState, to: VrrpState, reason: string): void {
    this.router.stats[C.vrrp_transitions]++;
    const master = to === VrrpState.Master;
    for (const a of r.addresses) this.router.setVrrpAddress(a.iface, a.address, master);
    for (const a of r.addresses6) this.router.v6?.setVrrpAddress(a.iface, a.address, master);
    if (r.useVmac) for (const a of r.addresses) a.iface.vmac = master ? r.vmac : null;
    // Two gratuitous ARPs: with the first advertisement, and the next (the gateway may miss one).
    r.garpsOwed = master ? 2 : 0;
    const peer = r.instance.master;
    const fields = { vrrp: r.name, vrid: r.instance.settings.vrid, iface: r.iface.name, priority: r.instance.settings.priority, ...(peer ? { master: formatVrrpAddress(peer.address), masterPriority: peer.priority } : {}) };
    this.log.warn(fields, `vrrp: ${VRRP_STATE_NAMES[from]} -> ${VRRP_STATE_NAMES[to]} (${reason})`);
    if (r === this.routers[0]) this.updateSyncRole();
  }

  // ---- the router's listener

  joined(group: Ipv4): boolean {
    return (group === VRRP_GROUP && this.routers.length > 0) || (group === SYNC_GROUP && this.sync !== null);
  }

  claimed(_iface: Interface, addr: Ipv4, mac: string): void {
    const r = this.routers.find((x) => x.addresses.some((a) => a.address === addr));
    if (r && r.instance.state === VrrpState.Master) r.twoMasters({ address: formatIpv4(addr), claimedBy: mac }, 'another host claims our address in ARP; VRRP between us may be blocked');
  }

  receive(iface: Interface, ipAt: number, length: number): boolean {
    const ip = this.ip.point(this.b, ipAt);
    if (ip.protocol === PROTO_VRRP) {
      this.receiveVrrp(iface, ipAt, length);
      return true;
    }
    return this.sync !== null && this.sync.receive(ipAt, length);
  }

  private receiveVrrp(iface: Interface, ipAt: number, length: number): void {
    const stats = this.router.stats;
    const ip = this.ip.point(this.b, ipAt);
    const src = ip.src;
    const v = this.vrrp.point(this.b, ip.payloadOffset);
    // RFC 5798 7.1: TTL 255 (it came from this link), to the group, a valid advertisement.
    if (ip.ttl !== VRRP_TTL || ip.dst !== VRRP_GROUP || !v.validAdvertisement(length - ip.headerLength, src, ip.dst)) {
      stats[C.vrrp_bad_adverts]++;
      return;
    }
    const vrid = v.vrid;
    const r = this.routers.find((x) => x.family === 4 && x.iface === iface && x.instance.settings.vrid === vrid);
    if (r === undefined) {
      stats[C.vrrp_other_vrid]++;
      return;
    }
    if (src === r.instance.settings.address) return; // our own, looped back by the switch
    if (v.version !== r.version) {
      stats[C.vrrp_bad_adverts]++;
      return;
    }
    stats[C.vrrp_adverts_received]++;
    const wasMaster = r.instance.master?.address;
    r.instance.receive(this.now(), src, v.priority, v.intervalCs);
    if (r === this.routers[0] && r.instance.master?.address !== wasMaster) this.updateSyncRole();
  }

  /** VRRP over IPv6 (the router offers what reached ff02::12 with next header 112). */
  receive6(iface: Interface, ipAt: number, nextHeader: number, at: number, length: number): boolean {
    if (nextHeader !== PROTO_VRRP) return false;
    const stats = this.router.stats;
    const b = this.b;
    const ip = this.ip6.point(b, ipAt);
    const v = this.vrrp.point(b, at);
    // RFC 5798 7.1: hop limit 255, to the group, from a link-local address, a valid advertisement.
    if (ip.hopLimit !== VRRP_TTL || !ipv6Equals(b, ip.dstAt, VRRP_GROUP6, 0) || !isLinkLocal6(b, ip.srcAt) || !v.validAdvertisement6(length, ipAt)) {
      stats[C.vrrp_bad_adverts]++;
      return true;
    }
    const vrid = v.vrid;
    const r = this.routers.find((x) => x.family === 6 && x.iface === iface && x.instance.settings.vrid === vrid);
    if (r === undefined) {
      stats[C.vrrp_other_vrid]++;
      return true;
    }
    const src = addressRank6(b, ip.srcAt);
    if (src === r.instance.settings.address) return true; // our own, looped back by the switch
    stats[C.vrrp_adverts_received]++;
    r.instance.receive(this.now(), src, v.priority, v.intervalCs);
    return true;
  }

  // ---- status (tapvsadm -L --daemon, metrics)

  vrrpStatus(): VrrpStatus[] {
    return this.routers.map((r) => ({
      name: r.name,
      iface: r.iface.name,
      vrid: r.instance.settings.vrid,
      state: VRRP_STATE_NAMES[r.instance.state],
      priority: r.instance.settings.priority,
      transitions: r.instance.transitions,
      master: r.instance.state === VrrpState.Master ? 'self' : r.instance.master ? formatVrrpAddress(r.instance.master.address) : null,
      holding: r.instance.holdMastership,
    }));
  }

  syncStatus(): SyncStatus | null {
    const s = this.sync;
    if (!s) return null;
    return {
      master: this.followsVrrp || this.syncDaemons.master,
      backup: this.followsVrrp || this.syncDaemons.backup,
      sending: s.sending,
      receiving: s.receiving,
      iface: s.settings.iface.name,
      syncid: s.settings.syncid,
      peer: s.settings.peer === null ? null : formatIpv4(s.settings.peer),
      resync: { state: this.resync.state, ms: this.resync.doneMs, entries: this.resync.entries },
    };
  }
}
