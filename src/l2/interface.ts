// A router interface: the port it sends on, its MAC, MTU and addresses.

import { inSubnet, prefixMask, type Ipv4, type Mac } from '../packet/address.js';

/** primary: an ordinary interface address. vip: a virtual service address the director answers ARP for. */
export type AddressRole = 'primary' | 'vip';

export interface InterfaceAddress {
  address: Ipv4;
  length: number;
  role: AddressRole;
}

export class Interface {
  /** Directed broadcast addresses of our subnets, precomputed: checked for every packet. */
  private readonly broadcasts: Uint32Array;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly mac: Mac,
    readonly mtu: number,
    readonly addresses: InterfaceAddress[],
  ) {
    this.broadcasts = Uint32Array.from(addresses.filter((a) => a.length < 31).map((a) => (a.address | ~prefixMask(a.length)) >>> 0));
  }

  owns(ip: Ipv4): boolean {
    for (const a of this.addresses) if (a.address === ip) return true;
    return false;
  }

  /** Is `ip` on one of this link's subnets (a neighbour we may learn)? */
  isOnLink(ip: Ipv4): boolean {
    for (const a of this.addresses) if (a.role === 'primary' && inSubnet(ip, a.address, a.length)) return true;
    return false;
  }

  /** Is `ip` the directed broadcast address of one of our subnets? */
  isSubnetBroadcast(ip: Ipv4): boolean {
    const b = this.broadcasts;
    for (let i = 0; i < b.length; i++) if (b[i] === ip) return true;
    return false;
  }

  /**
   * The source address for a packet we originate toward `peer` on this link (an ARP request,
   * an ICMP error): a primary address on the peer's subnet, else the first primary address.
   * Never a VIP, and never an address taken from a packet we forward (seed 004: the
   * "who-has 192.168.1.1 tell 192.168.1.2" failure).
   */
  sourceFor(peer: Ipv4): Ipv4 | null {
    let fallback: Ipv4 | null = null;
    for (const a of this.addresses) {
      if (a.role !== 'primary') continue;
      if (inSubnet(peer, a.address, a.length)) return a.address;
      fallback ??= a.address;
    }
    return fallback;
  }
}
