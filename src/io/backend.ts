// What a packet backend offers the engine: the native addon, or the in-memory one for tests.

export type TapMode = 'attach' | 'create' | 'auto';
/** tap: Ethernet frames; tun: bare IP packets (no link layer: never ARP). */
export type TapKind = 'tap' | 'tun';

export interface TapInfo {
  name: string;
  ifindex: number;
  mtu: number;
  mac: Uint8Array;
  /** The device did not exist and was made by opening it. */
  created: boolean;
  /** Bytes of virtio-net header before each frame (0: a TAP without offloads). */
  vnetHeader: number;
  /** The offloads the kernel took, as ethtool names them ('' for none). */
  offloads: string;
}

export interface Backend {
  buffer(): ArrayBuffer;
  /** With `offload`, a TAP with a virtio-net header and checksum/TSO offloads (super-frames). */
  openTap(port: number, name: string, mode: TapMode, kind?: TapKind, offload?: boolean): TapInfo;
  /**
   * A raw socket for tunnelled packets as a port. 4: IP-in-IP (protocol 4), whole IPv4 packets.
   * 6: IPv6-in-IPv6 (next header 41), each the outer source address (16 bytes) and the inner packet.
   */
  openRawTunnel(port: number, family: 4 | 6): TapInfo;
  start(port: number): void;
  closePort(port: number): void;
  /** Wake the port's thread (it sleeps in poll()); one call per batch, never per frame. */
  kick(port: number): void;
  /** Native forwarding between two ports, no JavaScript per frame (the reference limit). */
  setPeers(a: number, b: number): void;
  destroy(): void;
}
