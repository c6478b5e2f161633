// IPv6 routes, /0 to /128: longest prefix first. A list kept in prefix-length order and scanned
// until the first match: its cost is bounded by the routes the config names (a director's
// handful), with no allocation per lookup. A large table would want a trie; none is needed yet.

import { formatIpv6, inPrefix6, ipv6Equals, type Ipv6 } from '../packet/address6.js';
import type { Interface } from '../l2/interface.js';

export interface Route6 {
  network: Ipv6;
  length: number;
  /** The gateway, or null for an on-link (connected) prefix. */
  via: Ipv6 | null;
  iface: Interface;
  kind: 'connected' | 'static';
}

export class RouteTable6 {
  private readonly routes: Route6[] = [];

  add(r: Route6): void {
    if (this.routes.some((x) => x.length === r.length && ipv6Equals(x.network, 0, r.network, 0))) throw new Error(`duplicate route ${formatIpv6(r.network)}/${r.length}`);
    this.routes.push(r);
    this.routes.sort((a, b) => b.length - a.length);
  }

  lookup(b: Uint8Array, o: number): Route6 | undefined {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) if (inPrefix6(b, o, routes[i].network, routes[i].length)) return routes[i];
    return undefined;
  }

  list(): readonly Route6[] {
    return this.routes;
  }
}
