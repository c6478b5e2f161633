// Announcing VIPs over BGP through BIRD 2 (issue 14). tapvs does not speak BGP: BIRD does, from
// the management leg, as on any router. tapvs keeps two files of static routes that BIRD's config
// includes, a /32 per IPv4 VIP and a /128 per IPv6 VIP it serves now, via its own data-plane
// address of that family, and asks BIRD to reconfigure when either set changes (`birdc
// configure`: BIRD takes a new config whole or not at all). BIRD exports the static protocol to its BGP peers with the next hop kept, so the upstream
// router sends VIP traffic to tapvs, not to the kernel's management address.
//
// A VIP is announced while tapvs is forwarding and some service on it has a server that may be
// scheduled (weight above 0, not removed: a failed health check inhibits or removes). On stop
// every route is withdrawn, and tapvs waits for BIRD to say so before it goes.

import { spawn } from 'node:child_process';
import { formatIpv4, type Ipv4 } from '../packet/address.js';
import { formatIpv6, type Ipv6 } from '../packet/address6.js';
import type { VirtualService } from '../lvs/service.js';
import { writeAtomically } from './save.js';
import type { BfdConfig } from '../ha/bfd.js';

export interface BgpConfig {
  /** BIRD's control socket (birdc -s). */
  birdSocket: string;
  /** The routes file BIRD's IPv4 `protocol static` includes. */
  routesFile: string;
  /** The routes file BIRD's IPv6 `protocol static` includes (written only with a nextHop6). */
  routesFile6: string;
  /** The next hop announced: tapvs's address on the shared LAN. */
  nextHop: Ipv4;
  /** The next hop of IPv6 VIPs; null: tapvs has no IPv6 address, and announces no IPv6 VIP. */
  nextHop6: Ipv6 | null;
  /** BIRD keeps each route only while its BFD session to tapvs is up (src/ha/bfd.ts). */
  bfd: BfdConfig | null;
}

export interface AnnounceLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** How long one `birdc configure` may take before it counts as failed. */
const BIRDC_TIMEOUT_MS = 5_000;

/** The routes file for a set of VIPs: one static route each, via tapvs (and held up by BFD to it). */
export function birdRoutes(vips: readonly Ipv4[], nextHop: Ipv4, bfd = false): string {
  const lines = ['# Written by tapvs: the VIPs it serves now (a /32 each, via its own address).'];
  for (const vip of [...vips].sort((a, b) => a - b)) lines.push(`route ${formatIpv4(vip)}/32 via ${formatIpv4(nextHop)}${bfd ? ' bfd' : ''};`);
  return `${lines.join('\n')}\n`;
}

/** The routes file for IPv6 VIPs: a /128 each, via tapvs's IPv6 address. */
export function birdRoutes6(vips: readonly string[], nextHop: Ipv6, bfd = false): string {
  const lines = ['# Written by tapvs: the IPv6 VIPs it serves now (a /128 each, via its own address).'];
  for (const vip of [...vips].sort()) lines.push(`route ${vip}/128 via ${formatIpv6(nextHop)}${bfd ? ' bfd' : ''};`);
  return `${lines.join('\n')}\n`;
}

const schedulable = (svc: VirtualService): boolean => svc.dests.some((d) => d.weight > 0 && !d.removed);

/** The IPv4 VIPs with a service that has a server it may schedule. */
export function servedVips(services: readonly VirtualService[]): Ipv4[] {
  const vips = new Set<Ipv4>();
  for (const svc of services) if (!svc.key.vaddr6 && schedulable(svc)) vips.add(svc.key.vaddr);
  return [...vips];
}

/** The IPv6 VIPs (as text) with a service that has a server it may schedule. */
export function servedVips6(services: readonly VirtualService[]): string[] {
  const vips = new Set<string>();
  for (const svc of services) if (svc.key.vaddr6 && schedulable(svc)) vips.add(formatIpv6(svc.key.vaddr6));
  return [...vips];
}

export class VipAnnouncer {
  /** The sets BIRD was last told about ('' before the first), as the files' texts. */
  private announced = '';
  private announced6 = '';
  private running: Promise<void> | null = null;
  private pending = false;
  /** `tapvs drain`: nothing is announced, whatever is served. */
  draining = false;

  constructor(
    private readonly config: BgpConfig,
    private readonly log: AnnounceLog,
  ) {}

  /** Called on the router's tick: rewrites the file and reconfigures BIRD when the set changed. */
  update(services: readonly VirtualService[]): void {
    if (this.draining) this.apply([], []);
    else this.apply(servedVips(services), servedVips6(services));
  }

  /** Withdraws everything (graceful stop, `tapvs drain`); resolves once BIRD has been told. */
  async withdrawAll(): Promise<void> {
    this.apply([], []);
    while (this.running) await this.running;
  }

  private apply(vips: Ipv4[], vips6: string[]): void {
    const bfd = this.config.bfd !== null;
    const text = birdRoutes(vips, this.config.nextHop, bfd);
    const nextHop6 = this.config.nextHop6;
    const text6 = nextHop6 === null ? '' : birdRoutes6(vips6, nextHop6, bfd);
    if (text === this.announced && text6 === this.announced6) return;
    if (text !== this.announced) writeAtomically(this.config.routesFile, text);
    if (text6 !== this.announced6) writeAtomically(this.config.routesFile6, text6);
    this.announced = text;
    this.announced6 = text6;
    const all = [...vips.map(formatIpv4), ...(nextHop6 === null ? [] : vips6)];
    this.log.info({ vips: all, files: nextHop6 === null ? [this.config.routesFile] : [this.config.routesFile, this.config.routesFile6] }, all.length ? 'bgp: announcing the served VIPs' : 'bgp: withdrawing every VIP');
    if (this.running) {
      this.pending = true; // one more configure once this one is done: BIRD reads the file then
      return;
    }
    this.running = this.configure().finally(() => (this.running = null));
  }

  private async configure(): Promise<void> {
    do {
      this.pending = false;
      await this.birdc(['configure']);
    } while (this.pending);
  }

  /** One birdc command, bounded in time; a failure is logged, never thrown (BIRD may be down). */
  private birdc(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn('birdc', ['-s', this.config.birdSocket, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), BIRDC_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        this.log.warn({ err: e.message }, 'bgp: cannot run birdc; the routes file is written, BIRD will read it when reconfigured');
        resolve();
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        // birdc exits 0 even when BIRD refuses the config; its reply says which.
        if (code !== 0 || !/Reconfigured|Reconfiguration in progress/.test(out)) {
          this.log.warn({ code, reply: out.trim().slice(-300) }, 'bgp: BIRD did not take the new routes');
        }
        resolve();
      });
    });
  }
}
