// The appliance's own settings (the config's `system`): its name, its clock, who may log in.
// `tapvs run` never applies them: on an ordinary host the OS owns its hostname, clock and
// sshd. The appliance's boot does, through `tapvs system-files`, which writes one plain file per
// setting for rc.boot's shell (busybox parses no JSON).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIpv4, type Ipv4 } from '../packet/address.js';

export interface SshConfig {
  /** authorized_keys lines for root; none means no SSH at all. */
  authorizedKeys: string[];
}

export interface SystemConfig {
  hostname: string | null;
  /** An IANA zone name (Europe/Berlin, UTC); null keeps UTC. */
  timezone: string | null;
  /** NTP servers, reached from the management NIC. */
  ntp: Ipv4[];
  ssh: SshConfig | null;
}

export const NO_SYSTEM: SystemConfig = { hostname: null, timezone: null, ntp: [], ssh: null };

/** RFC 1123 names, within the kernel's 64-byte limit. */
const HOSTNAME = /^(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export function hostnameProblem(name: string): string | null {
  return HOSTNAME.test(name) ? null : `'${name}' is not a host name (letters, digits and inner hyphens, dot-separated, at most 63 characters)`;
}

/** Node's ICU knows the IANA zones, aliases included; the appliance carries Debian's tzdata for them. */
export function timezoneProblem(zone: string): string | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return null;
  } catch {
    return `'${zone}' is not a time zone (an IANA name like Europe/Berlin, America/New_York or UTC)`;
  }
}

/** The key types dropbear (the appliance's SSH server) accepts for public-key login. */
const KEY_TYPES = ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com'];

/**
 * An authorized_keys line as `ssh-keygen` writes a .pub file: TYPE BASE64 [COMMENT]. The blob
 * must decode and name its own type first (RFC 4253 6.6), which catches a key cut short or
 * pasted with the wrong type. Options (command=, from=) are refused: dropbear reads few of them.
 */
export function sshKeyProblem(line: string): string | null {
  if (/[\r\n]/.test(line)) return 'is more than one line: give each key as its own string';
  const [type, blob] = line.trim().split(/\s+/);
  if (!KEY_TYPES.includes(type)) {
    return `does not start with a key type (${KEY_TYPES.slice(0, 3).join(', ')}, ...): give the .pub file's line as it is, without options like command= or from=`;
  }
  const bytes = blob && /^[A-Za-z0-9+/]+={0,2}$/.test(blob) ? Buffer.from(blob, 'base64') : null;
  const named = bytes && bytes.length >= 4 ? bytes.subarray(4, 4 + bytes.readUInt32BE(0)).toString('latin1') : null;
  if (named !== type) return `is not a whole ${type} key: its base64 part ${bytes ? `names '${named}'` : 'does not decode'}`;
  return null;
}

/** The files `system-files` writes, by name; a setting not given writes no file. */
export function systemFiles(system: SystemConfig): Map<string, string> {
  const files = new Map<string, string>();
  if (system.hostname) files.set('hostname', `${system.hostname}\n`);
  if (system.timezone) files.set('timezone', `${system.timezone}\n`);
  if (system.ntp.length) files.set('ntp-servers', system.ntp.map((a) => `${formatIpv4(a)}\n`).join(''));
  if (system.ssh?.authorizedKeys.length) files.set('authorized_keys', system.ssh.authorizedKeys.map((k) => `${k.trim()}\n`).join(''));
  return files;
}

export const SYSTEM_FILE_NAMES = ['hostname', 'timezone', 'ntp-servers', 'authorized_keys'];

/** Writes the files into `dir` (0700: the keys say who is root), removing those no longer set. */
export function writeSystemFiles(system: SystemConfig, dir: string): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = systemFiles(system);
  for (const name of SYSTEM_FILE_NAMES) {
    const content = files.get(name);
    if (content === undefined) rmSync(join(dir, name), { force: true });
    else writeFileSync(join(dir, name), content, { mode: 0o600 });
  }
  return [...files.keys()];
}
