// A router interface: the port it sends on, its MAC, MTU and addresses.

import { inSubnet, prefixMask, type Ipv4, type Mac } from '../packet/address.js';

/** primary: an ordinary interface address. vip: a virtual service address the director answers ARP for. */
export type AddressRole = 'primary' | 'vip';

export interface InterfaceAddress {
  address: Ipv4;
  length: number;
  role: AddressRole;
  /** A VRRP address while this director is a backup: kept, but neither answered nor served. */
  standby?: boolean;
  /** Moved between directors by VRRP (src/ha/): another host claiming it is no conflict. */
  vrrp?: boolean;
}

export class Interface {
  /** Directed broadcast addresses of our subnets, precomputed: checked for every packet. */
  readonly broadcasts: Uint32Array;
  /** The VRRP virtual MAC (00:00:5e:00:01:VRID) while we are its master and it is in use. */
  vmac: Mac | null;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly mac: Mac,
    readonly mtu: number,
    readonly addresses: InterfaceAddress[],
  ) {
    this.vmac = null;
    this.broadcasts = Uint32Array.from(addresses.filter((a) => a.length < 31).map((a) => (a.address | ~prefixMask(a.length)) >>> 0));
  }

  owns(ip: Ipv4): boolean {
    for (const a of this.addresses) if (a.address === ip) return true;
    return false;
  }

  /** Do we answer ARP for `ip` here: ours, and not held back as a VRRP backup's? */
  answersFor(ip: Ipv4): boolean {
    for (const a of this.addresses) if (a.address === ip) return a.standby !== true;
    return false;
  }

  /** The MAC we answer ARP with for `ip`: the virtual MAC for VRRP addresses when it is in use. */
  macFor(ip: Ipv4): Mac {
    if (this.vmac !== null) for (const a of this.addresses) if (a.address === ip && a.vrrp) return this.vmac;
    return this.mac;
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
