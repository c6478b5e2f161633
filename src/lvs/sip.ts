// SIP Call-ID extraction for the SIP persistence engine (ipvsadm --pe sip): datagrams of one
// call go to one real server, whatever client port or address they come from.
//
// Reads a UDP payload in place and returns a 32-bit hash of the Call-ID (RFC 3261 7.3: the
// long form "Call-ID" or the compact "i", any case, optional whitespace before the colon,
// folded continuation lines joined by one space), or -1 when the payload is not SIP or names
// no Call-ID. Bounded: it looks at most MAX_HEADER_BYTES into the payload.

const MAX_HEADER_BYTES = 4096;
const MAX_CALL_ID = 256;
const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58;

const SIP_VERSION = [0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30]; // "SIP/2.0"
const CALL_ID = [0x63, 0x61, 0x6c, 0x6c, 0x2d, 0x69, 0x64]; // "call-id"

function matchesAt(b: Uint8Array, at: number, end: number, word: number[]): boolean {
  if (at + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if ((b[at + i] | 0x20) !== (word[i] | 0x20)) return false;
  return true;
}

/** A SIP message's first line: a response starts "SIP/2.0 ", a request ends " SIP/2.0". */
function looksLikeSip(b: Uint8Array, start: number, lineEnd: number): boolean {
  if (matchesAt(b, start, lineEnd, SIP_VERSION) && b[start + 7] === SP) return true;
  let e = lineEnd;
  while (e > start && (b[e - 1] === CR || b[e - 1] === SP)) e--;
  return e - start > SIP_VERSION.length && matchesAt(b, e - SIP_VERSION.length, e, SIP_VERSION) && b[e - SIP_VERSION.length - 1] === SP;
}

function lineEndFrom(b: Uint8Array, at: number, end: number): number {
  while (at < end && b[at] !== LF) at++;
  return at;
}

/** FNV-1a over the Call-ID value, with folding (CRLF + whitespace) read as one space. */
export function sipCallIdHash(b: Uint8Array, start: number, length: number): number {
  const end = start + Math.min(length, MAX_HEADER_BYTES);
  let lineEnd = lineEndFrom(b, start, end);
  if (lineEnd >= end || !looksLikeSip(b, start, lineEnd)) return -1;
  for (let at = lineEnd + 1; at < end; at = lineEnd + 1) {
    lineEnd = lineEndFrom(b, at, end);
    if (lineEnd === at || (lineEnd === at + 1 && b[at] === CR)) return -1; // end of headers
    let nameEnd: number;
    if (matchesAt(b, at, lineEnd, CALL_ID)) nameEnd = at + CALL_ID.length;
    else if ((b[at] | 0x20) === 0x69) nameEnd = at + 1; // compact form "i"
    else continue;
    while (nameEnd < lineEnd && (b[nameEnd] === SP || b[nameEnd] === HT)) nameEnd++;
    if (b[nameEnd] !== COLON) continue;
    return hashValue(b, nameEnd + 1, end);
  }
  return -1;
}

function hashValue(b: Uint8Array, at: number, end: number): number {
  let h = 0x811c9dc5;
  let n = 0;
  let pendingSpace = false;
  while (at < end && n < MAX_CALL_ID) {
    const c = b[at];
    if (c === CR || c === LF) {
      // A folded line continues the value; anything else ends it.
      let next = c === CR && b[at + 1] === LF ? at + 2 : at + 1;
      if (next < end && (b[next] === SP || b[next] === HT)) {
        while (next < end && (b[next] === SP || b[next] === HT)) next++;
        pendingSpace = n > 0;
        at = next;
        continue;
      }
      break;
    }
    if (c === SP || c === HT) {
      pendingSpace = n > 0;
      at++;
      continue;
    }
    if (pendingSpace) {
      h = Math.imul(h ^ SP, 0x01000193);
      n++;
      pendingSpace = false;
    }
    h = Math.imul(h ^ c, 0x01000193);
    n++;
    at++;
  }
  return n === 0 ? -1 : h >>> 0;
}
