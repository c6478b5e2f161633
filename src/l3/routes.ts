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
  /** One map (network -> route number) per prefix length in use, longest first: at most 33 probes. Masks are int32 (see util/u32map.ts). */
  private byLength: { length: number; mask: number; routes: U32Map }[] = [];
  private readonly routes: Route[] = [];

  add(route: Route): void {
    const mask = prefixMask(route.length);
    const network = (route.network & mask) >>> 0;
    let bucket = this.byLength.find((b) => b.length === route.length);
    if (!bucket) {
      bucket = { length: route.length, mask: mask | 0, routes: new U32Map() };
      this.byLength.push(bucket);
      this.byLength.sort((a, b) => b.length - a.length);
    }
    const id = bucket.routes.get(network);
    const existing = id < 0 ? undefined : this.routes[id];
    if (existing && existing.kind === 'connected' && route.kind === 'static') {
      throw new Error(`route ${formatIpv4(network)}/${route.length} is already a connected network of ${existing.iface.name}`);
    }
    if (existing) {
      this.routes[id] = { ...route, network };
    } else {
      bucket.routes.set(network, this.routes.length);
      this.routes.push({ ...route, network });
    }
  }

  lookup(dst: Ipv4): Route | undefined {
    for (let i = 0; i < this.byLength.length; i++) {
      const b = this.byLength[i];
      const id = b.routes.get(dst & b.mask);
      if (id >= 0) return this.routes[id];
    }
    return undefined;
  }

  /** Longest prefix first. */
  list(): Route[] {
    return [...this.routes].sort((a, b) => b.length - a.length);
  }
}
