// BFD control packets (RFC 5880 4.1), single hop over UDP (RFC 5881): port 3784, TTL 255.
//
//   vers(3) diag(5) | sta(2) P F C A D M | detect mult | length | my discr | your discr
//   | desired min TX (µs) | required min RX (µs) | required min echo RX (µs)
//
// tapvs sends no authentication section and refuses packets that carry one (A set).

import { ByteView } from './view.js';
import { get32, put32 } from './bytes.js';

export const BFD_PORT = 3784;
export const BFD_TTL = 255;
export const BFD_LENGTH = 24;
/** RFC 5881 4: the source port of a session's packets is in 49152-65535. */
export const BFD_SOURCE_PORT_BASE = 49152;

export const enum BfdState {
  AdminDown = 0,
  Down = 1,
  Init = 2,
  Up = 3,
}
export const BFD_STATE_NAMES = ['AdminDown', 'Down', 'Init', 'Up'] as const;

/** RFC 5880 4.1's diagnostic codes tapvs sends. */
export const enum BfdDiag {
  None = 0,
  DetectionTimeExpired = 1,
  NeighborSignaledDown = 3,
  AdministrativelyDown = 7,
}

const POLL = 0x20;
const FINAL = 0x10;
const AUTH = 0x04;
const DEMAND = 0x02;
const MULTIPOINT = 0x01;

export interface BfdFields {
  diag: number;
  state: BfdState;
  poll: boolean;
  final: boolean;
  detectMult: number;
  myDiscr: number;
  yourDiscr: number;
  desiredMinTxUs: number;
  requiredMinRxUs: number;
}

export class BfdView extends ByteView {
  get version(): number {
    return this.b[this.o] >>> 5;
  }
  get state(): BfdState {
    return (this.b[this.o + 1] >>> 6) as BfdState;
  }
  get poll(): boolean {
    return (this.b[this.o + 1] & POLL) !== 0;
  }
  get final(): boolean {
    return (this.b[this.o + 1] & FINAL) !== 0;
  }
  get demand(): boolean {
    return (this.b[this.o + 1] & DEMAND) !== 0;
  }
  get detectMult(): number {
    return this.b[this.o + 2];
  }
  get length(): number {
    return this.b[this.o + 3];
  }
  get myDiscr(): number {
    return get32(this.b, this.o + 4);
  }
  get yourDiscr(): number {
    return get32(this.b, this.o + 8);
  }
  get desiredMinTxUs(): number {
    return get32(this.b, this.o + 12);
  }
  get requiredMinRxUs(): number {
    return get32(this.b, this.o + 16);
  }

  /**
   * RFC 5880 6.8.6's checks that need no session: version 1, a length that fits what arrived
   * and is at least the mandatory section, a detect multiplier, no multipoint, a discriminator
   * of its own, and (since tapvs configures none) no authentication.
   */
  wellFormed(available: number): boolean {
    const b = this.b;
    const o = this.o;
    const length = b[o + 3];
    return available >= BFD_LENGTH && this.version === 1 && length >= BFD_LENGTH && length <= available && b[o + 2] !== 0 && (b[o + 1] & (MULTIPOINT | AUTH)) === 0 && this.myDiscr !== 0;
  }

  /** Writes a control packet without authentication or echo; returns its length. */
  write(f: BfdFields): number {
    const b = this.b;
    const o = this.o;
    b[o] = (1 << 5) | (f.diag & 0x1f);
    b[o + 1] = (f.state << 6) | (f.poll ? POLL : 0) | (f.final ? FINAL : 0);
    b[o + 2] = f.detectMult;
    b[o + 3] = BFD_LENGTH;
    put32(b, o + 4, f.myDiscr);
    put32(b, o + 8, f.yourDiscr);
    put32(b, o + 12, f.desiredMinTxUs);
    put32(b, o + 16, f.requiredMinRxUs);
    put32(b, o + 20, 0); // no echo function
    return BFD_LENGTH;
  }
}
