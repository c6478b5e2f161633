// `tapvs save`, the network engineer's "write memory": the live services (what tapvsadm changed
// since boot) written back into the config file, everything else in it as it was. Validated
// before a byte is written; written as a new file, flushed, then renamed over the old, so a power
// cut mid-write leaves the old config.

import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ListView, ServiceView } from './admin.js';
import { formatIpv6, isIpv6Text, parseIpv6 } from '../packet/address6.js';

/** A service's identity in the file or the live view; an IPv6 VIP in its canonical text, however the file spelt it. */
const keyOf = (s: { protocol?: unknown; vip?: unknown; port?: unknown; fwmark?: unknown }) => {
  const vip = typeof s.vip === 'string' && isIpv6Text(s.vip) ? formatIpv6(parseIpv6(s.vip) ?? new Uint8Array(16)) : s.vip;
  return s.fwmark ? `fwm:${s.fwmark}:${isIpv6Text(String(vip)) ? 6 : 4}` : `${s.protocol ?? 'tcp'}:${vip}:${s.port}`;
};

/**
 * The config file's JSON with `services` replaced by the live ones. What the live view does not
 * hold is kept from the file's service of the same key: its health check, and its `iface` when
 * the file named one.
 */
export function withLiveServices(fileJson: Record<string, unknown>, live: ListView): Record<string, unknown> {
  const before = new Map<string, Record<string, unknown>>();
  for (const s of (fileJson.services as Record<string, unknown>[] | undefined) ?? []) before.set(keyOf(s), s);
  return { ...fileJson, services: live.services.map((s) => serviceJson(s, before.get(keyOf(s)))) };
}

function serviceJson(s: ServiceView, was: Record<string, unknown> | undefined): Record<string, unknown> {
  const servers = [...s.dests, ...s.failedOut]; // a server its check holds out is still configured
  return {
    ...(s.fwmark ? { fwmark: s.fwmark, members: s.members } : { protocol: s.protocol }),
    vip: s.vip,
    ...(s.fwmark ? {} : { port: s.port }),
    scheduler: s.scheduler,
    ...(s.persistence ? { persistence: s.persistence } : {}),
    // IPv6 persistence takes a prefix length, as ipvsadm's -M does, and the config a number.
    ...(isIpv6Text(s.vip) ? (s.netmask !== '128' ? { netmask: Number(s.netmask) } : {}) : s.netmask !== '255.255.255.255' ? { netmask: s.netmask } : {}),
    ...(s.onePacket ? { onePacket: true } : {}),
    ...(s.udpTimeout ? { udpTimeout: s.udpTimeout } : {}),
    ...(s.pe ? { pe: s.pe } : {}),
    ...(s.flags.length ? { flags: s.flags } : {}),
    ...(was?.iface !== undefined ? { iface: was.iface } : {}),
    ...(was?.healthCheck !== undefined ? { healthCheck: was.healthCheck } : {}),
    realServers: servers.map((d) => ({
      address: d.address,
      port: d.port,
      weight: d.configuredWeight,
      method: d.method,
      ...(d.upperThreshold ? { upperThreshold: d.upperThreshold } : {}),
      ...(d.lowerThreshold ? { lowerThreshold: d.lowerThreshold } : {}),
    })),
  };
}

/** Writes `data` to `file` so that it is either the old file or the whole new one, whatever happens. */
export function writeAtomically(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.new`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeFileSync(fd, data); // all of it (writeSync may write part)
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir); // the rename itself on disk
  } finally {
    closeSync(dir);
  }
}
