// tshark's dissectors as a judge of frames built in memory: the frames go into a pcap file,
// tshark reads it back and prints the named fields, a row per frame.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** tshark's fields for these Ethernet frames, or null when tshark is not installed. */
export function tsharkFields(frames: Uint8Array[], fields: string[], options: string[] = []): string[][] | null {
  if (spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'tapvs-tshark-'));
  try {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20); // Ethernet
    const records = frames.map((f) => {
      const r = Buffer.alloc(16);
      r.writeUInt32LE(f.length, 8);
      r.writeUInt32LE(f.length, 12);
      return Buffer.concat([r, Buffer.from(f)]);
    });
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, Buffer.concat([header, ...records]));
    const out = spawnSync('tshark', ['-n', '-r', file, ...options, '-T', 'fields', ...fields.flatMap((x) => ['-e', x])], { encoding: 'utf8' });
    return out.stdout.trim().split('\n').map((l) => l.split('\t'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
