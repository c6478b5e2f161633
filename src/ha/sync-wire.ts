// The IPVS sync protocol, version 1, as net/netfilter/ipvs/ip_vs_sync.c writes it: UDP port
// 8848, multicast 224.0.0.81 (or unicast to a peer), one message per datagram.
//
//   message: reserved(0) syncid size(16) | count version(1) spare(16) | connections...
//   connection (IPv4, 36 bytes): type(0) protocol ver_size(4|12) | flags(32) | state(16) cport |
//       vport dport | fwmark | timeout (s) | caddr | vaddr | daddr | options (type, length, data)
//   connection (IPv6, 72 bytes): type(1) and the same fields, its three addresses 16 bytes each
//
// A message carries either family whatever its own transport (IPv4 here, as the kernel's
// default), so one sync daemon serves a dual-stack director.
//
// Options tapvs writes: PE data and PE name ("sip") for Call-ID templates. tapvs keeps a
// Call-ID as its 32-bit hash (lvs/sip.ts), so its PE data is those 4 bytes, not the text.
//
// One extension, for the bulk resync the kernel lacks: a message with no connections whose
// body is "TVS" and an operation (request the table; the table is complete, with a count).
// The kernel reads a zero-count message as empty, so a kernel peer ignores it.

import { readIpv4, writeIpv4, type Ipv4 } from '../packet/address.js';
import { IPV6_BYTES } from '../packet/address6.js';
import { get16, get32, put16, put32 } from '../packet/bytes.js';

export const SYNC_PORT = 8848;
/** 224.0.0.81 */
export const SYNC_GROUP: Ipv4 = 0xe0000051;
export const SYNC_HEADER = 8;
export const SYNC_CONN_V4 = 36;
export const SYNC_CONN_V6 = 72;
/** The connection type's family bit (the kernel's STYPE_F_INET6). */
const TYPE_INET6 = 1;
const SYNC_VERSION = 1;
const OPT_PE_DATA = 2;
const OPT_PE_NAME = 3;
const PE_SIP = Uint8Array.from([0x73, 0x69, 0x70]); // "sip"
/** A SIP template's options: PE data (2 + 4) and PE name (2 + 3), padded to 32 bits. */
const SIP_OPTIONS = 12;
/** The most connections one message can count. */
export const MAX_CONNS_PER_MESSAGE = 255;

// IP_VS_CONN_F_* (include/uapi/linux/ip_vs.h)
export const CONN_F_MASQ = 0x0000;
export const CONN_F_TUNNEL = 0x0002;
export const CONN_F_DROUTE = 0x0003;
export const CONN_F_FWD_MASK = 0x0007;
export const CONN_F_NOOUTPUT = 0x0080;
export const CONN_F_INACTIVE = 0x0100;
export const CONN_F_TEMPLATE = 0x1000;
export const CONN_F_ONE_PACKET = 0x2000;

/** The control operations of tapvs's bulk-resync extension. */
export const enum SyncControl {
  RequestTable = 1,
  TableComplete = 2,
}
const CONTROL_LENGTH = 8; // "TVS", op, u32 argument

/** One connection of a message, as a plain value (reused by the reader: never kept). */
export interface SyncConn {
  protocol: number;
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  fwmark: number;
  timeoutS: number;
  caddr: Ipv4;
  vaddr: Ipv4;
  daddr: Ipv4;
  /** An IPv6 connection: its addresses are caddr6, vaddr6 and daddr6 (the IPv4 fields are 0). */
  ipv6: boolean;
  caddr6: Uint8Array;
  vaddr6: Uint8Array;
  daddr6: Uint8Array;
  /** A SIP template's Call-ID hash, or -1. */
  callId: number;
}

export const newSyncConn = (): SyncConn => ({
  protocol: 0,
  flags: 0,
  state: 0,
  cport: 0,
  vport: 0,
  dport: 0,
  fwmark: 0,
  timeoutS: 0,
  caddr: 0,
  vaddr: 0,
  daddr: 0,
  ipv6: false,
  caddr6: new Uint8Array(IPV6_BYTES),
  vaddr6: new Uint8Array(IPV6_BYTES),
  daddr6: new Uint8Array(IPV6_BYTES),
  callId: -1,
});

const baseLength = (c: SyncConn): number => (c.ipv6 ? SYNC_CONN_V6 : SYNC_CONN_V4);

/** Bytes a connection takes in a message. */
export const connLength = (c: SyncConn): number => baseLength(c) + (c.callId >= 0 ? SIP_OPTIONS : 0);

export function writeHeader(b: Uint8Array, o: number, syncid: number, count: number, size: number): void {
  b[o] = 0;
  b[o + 1] = syncid;
  put16(b, o + 2, size);
  b[o + 4] = count;
  b[o + 5] = SYNC_VERSION;
  b[o + 6] = 0;
  b[o + 7] = 0;
}

/** Writes one connection at `o`; returns its length. */
export function writeConn(b: Uint8Array, o: number, c: SyncConn): number {
  const length = connLength(c);
  b[o] = c.ipv6 ? TYPE_INET6 : 0;
  b[o + 1] = c.protocol;
  put16(b, o + 2, length); // version 0 in the top four bits
  put32(b, o + 4, c.flags);
  put16(b, o + 8, c.state);
  put16(b, o + 10, c.cport);
  put16(b, o + 12, c.vport);
  put16(b, o + 14, c.dport);
  put32(b, o + 16, c.fwmark);
  put32(b, o + 20, c.timeoutS);
  if (c.ipv6) {
    b.set(c.caddr6, o + 24);
    b.set(c.vaddr6, o + 40);
    b.set(c.daddr6, o + 56);
  } else {
    writeIpv4(b, o + 24, c.caddr);
    writeIpv4(b, o + 28, c.vaddr);
    writeIpv4(b, o + 32, c.daddr);
  }
  if (c.callId >= 0) {
    const p = o + baseLength(c);
    b[p] = OPT_PE_DATA;
    b[p + 1] = 4;
    put32(b, p + 2, c.callId);
    b[p + 6] = OPT_PE_NAME;
    b[p + 7] = PE_SIP.length;
    b.set(PE_SIP, p + 8);
    b[p + 11] = 0; // padding
  }
  return length;
}

/** Writes a control message of the bulk-resync extension at `o`; returns its length. */
export function writeControl(b: Uint8Array, o: number, syncid: number, op: SyncControl, argument: number): number {
  const size = SYNC_HEADER + CONTROL_LENGTH;
  writeHeader(b, o, syncid, 0, size);
  b[o + 8] = 0x54; // T
  b[o + 9] = 0x56; // V
  b[o + 10] = 0x53; // S
  b[o + 11] = op;
  put32(b, o + 12, argument);
  return size;
}

export interface SyncReader {
  conn(c: SyncConn): void;
  control(op: SyncControl, argument: number): void;
}

/** Why a message was refused (a counted drop), or null when it was read. */
export type SyncRefusal = 'short' | 'version' | 'size' | 'syncid' | 'malformed';

/**
 * Reads the message in b[o, o + length): checks the header (version 1, its size, our syncid
 * unless ours is 0) and each connection's bounds before it is handed over, IPv4 or IPv6.
 * Reading stops at the first malformed connection; those before it were delivered.
 */
export function readMessage(b: Uint8Array, o: number, length: number, syncid: number, out: SyncConn, reader: SyncReader): SyncRefusal | null {
  if (length < SYNC_HEADER) return 'short';
  if (b[o] !== 0 || b[o + 5] !== SYNC_VERSION) return 'version';
  if (get16(b, o + 2) !== length) return 'size';
  if (syncid !== 0 && b[o + 1] !== syncid) return 'syncid';
  const count = b[o + 4];
  if (count === 0) {
    if (length === SYNC_HEADER + CONTROL_LENGTH && b[o + 8] === 0x54 && b[o + 9] === 0x56 && b[o + 10] === 0x53) reader.control(b[o + 11] as SyncControl, get32(b, o + 12));
    return null;
  }
  const end = o + length;
  let p = o + SYNC_HEADER;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return 'malformed';
    const size = get16(b, p + 2) & 0x0fff;
    if (get16(b, p + 2) >>> 12 !== 0 || size < 4 || p + size > end) return 'malformed';
    const type = b[p];
    if (type & ~TYPE_INET6) return 'malformed'; // neither IPv4 nor IPv6
    const ipv6 = type === TYPE_INET6;
    const base = ipv6 ? SYNC_CONN_V6 : SYNC_CONN_V4;
    if (size < base) return 'malformed';
    out.protocol = b[p + 1];
    out.flags = get32(b, p + 4);
    out.state = get16(b, p + 8);
    out.cport = get16(b, p + 10);
    out.vport = get16(b, p + 12);
    out.dport = get16(b, p + 14);
    out.fwmark = get32(b, p + 16);
    out.timeoutS = get32(b, p + 20);
    out.ipv6 = ipv6;
    if (ipv6) {
      copy16(b, p + 24, out.caddr6);
      copy16(b, p + 40, out.vaddr6);
      copy16(b, p + 56, out.daddr6);
      out.caddr = out.vaddr = out.daddr = 0;
    } else {
      out.caddr = readIpv4(b, p + 24);
      out.vaddr = readIpv4(b, p + 28);
      out.daddr = readIpv4(b, p + 32);
    }
    out.callId = -1;
    if (!readOptions(b, p + base, p + size, out)) return 'malformed';
    reader.conn(out);
    p += size;
  }
  return null;
}

/** An address out of a message, without a view per entry. */
function copy16(b: Uint8Array, o: number, out: Uint8Array): void {
  for (let i = 0; i < IPV6_BYTES; i++) out[i] = b[o + i];
}

/** Options after a connection: PE data of a SIP template; others (sequence data) skipped. */
function readOptions(b: Uint8Array, p: number, end: number, out: SyncConn): boolean {
  let peData = -1;
  let sip = false;
  while (p + 2 <= end) {
    const type = b[p], length = b[p + 1];
    if (type === 0) break; // padding
    if (p + 2 + length > end) return false;
    if (type === OPT_PE_DATA && length === 4) peData = get32(b, p + 2);
    if (type === OPT_PE_NAME) sip = length === PE_SIP.length && b[p + 2] === PE_SIP[0] && b[p + 3] === PE_SIP[1] && b[p + 4] === PE_SIP[2];
    p += 2 + length;
  }
  if (sip) out.callId = peData;
  return true;
}

