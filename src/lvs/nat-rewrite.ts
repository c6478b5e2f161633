// NAT's one rewrite: an address and a port of a TCP or UDP packet, checksums patched in place.

import { readIpv4, writeIpv4 } from '../packet/address.js';
import { patchChecksum, patchPartialChecksum } from '../packet/checksum.js';
import { PROTO_TCP, PROTO_UDP } from '../packet/ipv4.js';

/**
 * Rewrites one address (at ipAt + addrField) and one port (at l4 + portField) of a TCP or UDP
 * packet, patching the IPv4 header checksum and the transport checksum incrementally
 * (RFC 1624): NAT without touching the payload. A `partial` transport checksum (a super-frame's,
 * or any the kernel left for offload: only the pseudo-header sum) follows the address alone,
 * as the kernel's inet_proto_csum_replace4 does: the ports are summed at egress.
 */
export function rewriteAddressPort(b: Uint8Array, ipAt: number, l4: number, protocol: number, addrField: number, portField: number, addr: number, port: number, partial = false): void {
  const oldAddr = readIpv4(b, ipAt + addrField);
  const oldPort = (b[l4 + portField] << 8) | b[l4 + portField + 1];
  const hiOld = oldAddr >>> 16, loOld = oldAddr & 0xffff, hiNew = addr >>> 16, loNew = addr & 0xffff;
  patchChecksum(b, ipAt + 10, hiOld, hiNew);
  patchChecksum(b, ipAt + 10, loOld, loNew);
  const sumAt = l4 + (protocol === PROTO_TCP ? 16 : 6);
  if (partial) {
    patchPartialChecksum(b, sumAt, hiOld, hiNew);
    patchPartialChecksum(b, sumAt, loOld, loNew);
  }
  const udpNoSum = protocol === PROTO_UDP && b[sumAt] === 0 && b[sumAt + 1] === 0;
  if (!partial && !udpNoSum) {
    // The address is in the pseudo-header, so the transport checksum covers it too.
    patchChecksum(b, sumAt, hiOld, hiNew);
    patchChecksum(b, sumAt, loOld, loNew);
    patchChecksum(b, sumAt, oldPort, port);
    if (protocol === PROTO_UDP && b[sumAt] === 0 && b[sumAt + 1] === 0) b[sumAt] = b[sumAt + 1] = 0xff;
  }
  writeIpv4(b, ipAt + addrField, addr);
  b[l4 + portField] = port >>> 8;
  b[l4 + portField + 1] = port & 0xff;
}

/**
 * The same for IPv6: one 16-byte address (at ipAt + addrField: 8 source, 24 destination) from
 * `addr[addrAt..]`, and one port, at `l4`. No header checksum; the transport checksum (never
 * optional in IPv6) follows the address through the pseudo-header, and the port unless partial.
 */
export function rewriteAddressPort6(b: Uint8Array, ipAt: number, l4: number, protocol: number, addrField: number, portField: number, addr: Uint8Array, addrAt: number, port: number, partial = false): void {
  const sumAt = l4 + (protocol === PROTO_TCP ? 16 : 6);
  const at = ipAt + addrField;
  for (let i = 0; i < 16; i += 2) {
    const oldWord = (b[at + i] << 8) | b[at + i + 1];
    const newWord = (addr[addrAt + i] << 8) | addr[addrAt + i + 1];
    if (partial) patchPartialChecksum(b, sumAt, oldWord, newWord);
    else patchChecksum(b, sumAt, oldWord, newWord);
    b[at + i] = addr[addrAt + i];
    b[at + i + 1] = addr[addrAt + i + 1];
  }
  const oldPort = (b[l4 + portField] << 8) | b[l4 + portField + 1];
  if (!partial) patchChecksum(b, sumAt, oldPort, port);
  if (!partial && protocol === PROTO_UDP && b[sumAt] === 0 && b[sumAt + 1] === 0) b[sumAt] = b[sumAt + 1] = 0xff;
  b[l4 + portField] = port >>> 8;
  b[l4 + portField + 1] = port & 0xff;
}
