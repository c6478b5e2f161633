// Longest-prefix-match routes: connected networks and static routes (via a gateway, or on-link).

import { formatIpv4, prefixMask, type Ipv4 } from '../packet/address.js';
import type { Interface } from '../l2/interface.js';
import { U32Map } from '../util/u32map.js';

export interface Route {
  network: Ipv4;
  length: number;
  /** Next hop; 0 for on-link (the destination itself is the next hop). */
  via: Ipv4;
  iface: Interface;
  kind: 'connected' | 'static';
}

export class RouteTable {
  /** One map (network -> route id) per prefix length in use, longest first: at most 33 probes. */
  private byLength: { length: number; mask: number; routes: U32Map }[] = [];
  /** The same, flat, for the per-frame lookup: masks (int32, see util/u32map.ts) and their maps. */
  private masks = new Int32Array(0);
  private maps: U32Map[] = [];
  private readonly routes: Route[] = [];
  /** Per route id, for the fast path: the egress port, and the next hop as int32 (0: on-link). */
  private ports = new Int32Array(16);
  private vias = new Int32Array(16);

  add(route: Route): void {
    const mask = prefixMask(route.length);
    const network = (route.network & mask) >>> 0;
    let bucket = this.byLength.find((b) => b.length === route.length);
    if (!bucket) {
      bucket = { length: route.length, mask: mask | 0, routes: new U32Map() };
      this.byLength.push(bucket);
      this.byLength.sort((a, b) => b.length - a.length);
      this.masks = Int32Array.from(this.byLength, (b) => b.mask);
      this.maps = this.byLength.map((b) => b.routes);
    }
    const id = bucket.routes.get(network);
    const existing = id < 0 ? undefined : this.routes[id];
    if (existing && existing.kind === 'connected' && route.kind === 'static') {
      throw new Error(`route ${formatIpv4(network)}/${route.length} is already a connected network of ${existing.iface.name}`);
    }
    let at = id;
    if (existing) {
      this.routes[id] = { ...route, network };
    } else {
      at = this.routes.length;
      bucket.routes.set(network, at);
      this.routes.push({ ...route, network });
      if (at === this.ports.length) {
        // Doubling, so that a config of many routes builds in linear time.
        const ports = new Int32Array(2 * at), vias = new Int32Array(2 * at);
        ports.set(this.ports);
        vias.set(this.vias);
        this.ports = ports;
        this.vias = vias;
      }
    }
    this.ports[at] = route.iface.port;
    this.vias[at] = route.via | 0;
  }

  /** The id of the longest-prefix route to `dst`, or -1. */
  lookupId(dst: Ipv4): number {
    const masks = this.masks, maps = this.maps;
    for (let i = 0; i < masks.length; i++) {
      const id = maps[i].get(dst & masks[i]);
      if (id >= 0) return id;
    }
    return -1;
  }

  // The flat tables as they stand, for a loop that holds them in locals and looks up as
  // lookupId() does (the fast path, per run of frames): valid until the next add(), which may
  // replace them.
  get prefixMasks(): Int32Array {
    return this.masks;
  }
  get prefixMaps(): readonly U32Map[] {
    return this.maps;
  }
  /** By route id: the egress port, and the next hop as int32 (0 when the destination is on-link). */
  get egressPorts(): Int32Array {
    return this.ports;
  }
  get nextHops(): Int32Array {
    return this.vias;
  }

  lookup(dst: Ipv4): Route | undefined {
    const id = this.lookupId(dst);
    return id < 0 ? undefined : this.routes[id];
  }

  /** Longest prefix first. */
  list(): Route[] {
    return [...this.routes].sort((a, b) => b.length - a.length);
  }
}
