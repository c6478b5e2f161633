// What a packet backend offers the engine: the native addon, or the in-memory one for tests.

export type TapMode = 'attach' | 'create' | 'auto';

export interface TapInfo {
  name: string;
  ifindex: number;
  mtu: number;
  mac: Uint8Array;
  /** The device did not exist and was made by opening it. */
  created: boolean;
}

export interface Backend {
  buffer(): ArrayBuffer;
  openTap(port: number, name: string, mode: TapMode): TapInfo;
  start(port: number): void;
  closePort(port: number): void;
  /** Wake the port's thread (it sleeps in poll()); one call per batch, never per frame. */
  kick(port: number): void;
  /** Native forwarding between two ports, no JavaScript per frame (the reference limit). */
  setPeers(a: number, b: number): void;
  destroy(): void;
}
