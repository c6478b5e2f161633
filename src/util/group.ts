// A group name (or number) to its id, from /etc/group: for the read-only control socket.

import { readFileSync } from 'node:fs';

export function groupId(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // no group file: every name is unknown
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`config: $.control.readOnly.group: no group named '${group}' in ${groupFile}`);
}
