// A graceful restart's connection handoff: the stopping process writes its connection table
// and templates, the next one reads them before it forwards a packet, so an upgrade loses no
// connection. The file is a run of IPVS sync messages (sync-wire.ts), the same encoding the
// backup receives, each entry carrying the time it has left.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { writeAtomically } from '../control/save.js';
import type { Director } from '../lvs/director.js';
import { MAX_CONNS_PER_MESSAGE, SYNC_HEADER, connLength, newSyncConn, readMessage, writeConn, writeHeader, SyncControl } from './sync-wire.js';

/** A message's size is a 16-bit field: stay well inside it. */
const MESSAGE_BYTES = 32_768;

/** Writes every live entry to `file` (a new file, flushed, then renamed over the old). Returns the count. */
export function writeHandoff(director: Director, file: string, now: number): number {
  const table = director.table;
  const c = newSyncConn();
  const chunks: Buffer[] = [];
  let message = Buffer.alloc(MESSAGE_BYTES);
  let length = SYNC_HEADER;
  let count = 0;
  let total = 0;
  const close = () => {
    if (count === 0) return;
    writeHeader(message, 0, 0, count, length);
    chunks.push(message.subarray(0, length));
    message = Buffer.alloc(MESSAGE_BYTES);
    length = SYNC_HEADER;
    count = 0;
  };
  table.forEach((e) => {
    director.describeForSync(e, c, now);
    if (length + connLength(c) > MESSAGE_BYTES || count === MAX_CONNS_PER_MESSAGE) close();
    length += writeConn(message, length, c);
    count++;
    total++;
  });
  close();
  writeAtomically(file, Buffer.concat(chunks), 0o600);
  return total;
}

/**
 * Reads a handoff file into the director and removes it (a table is handed over once).
 * Returns what was taken and what could not be (its service or server is gone); null when
 * there is no file.
 */
export function readHandoff(director: Director, file: string, now: number): { entries: number; dropped: number; malformed: boolean } | null {
  if (!existsSync(file)) return null;
  const b = readFileSync(file);
  rmSync(file, { force: true });
  let entries = 0;
  let dropped = 0;
  let malformed = false;
  const reader = {
    conn: (c: Parameters<Director['importSynced']>[0]) => (director.importSynced(c, now) ? entries++ : dropped++),
    control: (_op: SyncControl, _argument: number) => {},
  };
  for (let o = 0; o + SYNC_HEADER <= b.length; ) {
    const size = (b[o + 2] << 8) | b[o + 3];
    if (size < SYNC_HEADER || o + size > b.length || readMessage(b, o, size, 0, newSyncConn(), reader) !== null) {
      malformed = true;
      break;
    }
    o += size;
  }
  return { entries, dropped, malformed };
}
