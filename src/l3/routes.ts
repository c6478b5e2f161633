// Longest-prefix-match routes: connected networks and static routes (via a gateway, or on-link).

import { formatIpv4, prefixMask, type Ipv4 } from '../packet/address.js';
import type { Interface } from '../l2/interface.js';

export interface Route {
  network: Ipv4;
  length: number;
  /** Next hop; 0 for on-link (the destination itself is the next hop). */
  via: Ipv4;
  iface: Interface;
  kind: 'connected' | 'static';
}

export class RouteTable {
  /** One map per prefix length in use, longest first: at most 33 probes per lookup. */
  private byLength: { length: number; mask: number; routes: Map<Ipv4, Route> }[] = [];

  add(route: Route): void {
    const mask = prefixMask(route.length);
    const network = (route.network & mask) >>> 0;
    let bucket = this.byLength.find((b) => b.length === route.length);
    if (!bucket) {
      bucket = { length: route.length, mask, routes: new Map() };
      this.byLength.push(bucket);
      this.byLength.sort((a, b) => b.length - a.length);
    }
    const existing = bucket.routes.get(network);
    if (existing && existing.kind === 'connected' && route.kind === 'static') {
      throw new Error(`route ${formatIpv4(network)}/${route.length} is already a connected network of ${existing.iface.name}`);
    }
    bucket.routes.set(network, { ...route, network });
  }

  lookup(dst: Ipv4): Route | undefined {
    for (let i = 0; i < this.byLength.length; i++) {
      const b = this.byLength[i];
      const r = b.routes.get((dst & b.mask) >>> 0);
      if (r) return r;
    }
    return undefined;
  }

  list(): Route[] {
    return this.byLength.flatMap((b) => [...b.routes.values()]);
  }
}
