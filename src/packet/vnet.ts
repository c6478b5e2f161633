// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), the 10 bytes the kernel puts before
// each frame of a TAP with offloads (and takes before each frame written to it). Fields are
// little-endian, as the TAP uses them on x86 (and on any host without TUNSETVNETBE).
//
//   flags       NEEDS_CSUM: the transport checksum holds only the pseudo-header sum; the
//               kernel completes it from csum_start, storing it at csum_start + csum_offset.
//               DATA_VALID: the checksum was verified.
//   gso_type    NONE, or TCPV4 / TCPV6 / UDP_L4 (| ECN): a super-frame, to be cut into
//               segments of gso_size payload bytes.
//   hdr_len     the headers each segment repeats (a hint; the kernel recomputes it).

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

// Byte offsets in the header.
const FLAGS = 0;
const GSO_TYPE = 1;
const HDR_LEN = 2;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);

export const vnetFlags = (b: Uint8Array, hdr: number): number => b[hdr + FLAGS];
/** The GSO type without the ECN bit. */
export const vnetGsoType = (b: Uint8Array, hdr: number): number => b[hdr + GSO_TYPE] & ~VNET_GSO_ECN;
export const vnetGsoSize = (b: Uint8Array, hdr: number): number => u16(b, hdr + GSO_SIZE);
export const vnetCsumStart = (b: Uint8Array, hdr: number): number => u16(b, hdr + CSUM_START);
export const vnetCsumOffset = (b: Uint8Array, hdr: number): number => u16(b, hdr + CSUM_OFFSET);
/** A super-frame: segmentation is pending. */
export const isSuperFrame = (b: Uint8Array, hdr: number): boolean => b[hdr + GSO_TYPE] !== VNET_GSO_NONE;
/** The transport checksum is partial (the pseudo-header sum), to be completed at egress. */
export const needsChecksum = (b: Uint8Array, hdr: number): boolean => (b[hdr + FLAGS] & VNET_F_NEEDS_CSUM) !== 0;

/** A plain frame: no segmentation, checksums complete. */
export function clearVnet(b: Uint8Array, hdr: number): void {
  b.fill(0, hdr, hdr + 10);
}

/** The header of a frame whose transport checksum at `csumStart + csumOffset` is partial. */
export function writeVnet(b: Uint8Array, hdr: number, h: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number }): void {
  b[hdr + FLAGS] = h.flags;
  b[hdr + GSO_TYPE] = h.gsoType;
  put16le(b, hdr + HDR_LEN, h.hdrLen);
  put16le(b, hdr + GSO_SIZE, h.gsoSize);
  put16le(b, hdr + CSUM_START, h.csumStart);
  put16le(b, hdr + CSUM_OFFSET, h.csumOffset);
}

function put16le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = v >>> 8;
}
