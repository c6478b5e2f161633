// TCP connection states as IPVS tracks them, and the transition tables as data.
//
// A transition is chosen by the packet's direction and its most telling flag (RST, then SYN,
// then FIN, then ACK). INPUT is client -> server, OUTPUT server -> client (NAT only); DR and
// TUN directors never see OUTPUT and use INPUT_ONLY, which makes ESTABLISHED harder to reach
// from packets a client alone can forge. The secure_tcp tables (defence against SYN floods)
// additionally keep a connection in SYN_RECV / SYNACK until the server has answered.

import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/transport.js';

export const enum TcpState {
  None = 0,
  Established,
  SynSent,
  SynRecv,
  FinWait,
  TimeWait,
  Close,
  CloseWait,
  LastAck,
  Listen,
  SynAck,
}
export const TCP_STATE_COUNT = 11;
export const TCP_STATE_NAMES = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK'] as const;

export const enum Direction {
  Input = 0,
  Output = 1,
  InputOnly = 2,
}

export const enum TcpEvent {
  Syn = 0,
  Fin = 1,
  Ack = 2,
  Rst = 3,
}

// Two-letter names, in TcpState order: the columns of the tables below.
const ABBREV = ['NO', 'ES', 'SS', 'SR', 'FW', 'TW', 'CL', 'CW', 'LA', 'LI', 'SA'];

/** Rows: event (syn, fin, ack, rst) x columns: current state (NO ES SS SR FW TW CL CW LA LI SA). */
const NORMAL = {
  input: ['SR ES ES SR SR SR SR SR SR SR SR', 'CL CW SS TW TW TW CL CW LA LI TW', 'ES ES SS ES FW TW CL CW CL LI ES', 'CL CL CL SR CL CL CL CL LA LI SR'],
  output: ['SS ES SS SR SS SS SS SS SS LI SR', 'TW FW SS TW FW TW CL TW LA LI TW', 'ES ES SS ES FW TW CL CW LA ES ES', 'CL CL SS CL CL TW CL CL CL CL CL'],
  inputOnly: ['SR ES ES SR SR SR SR SR SR SR SR', 'CL FW SS TW FW TW CL CW LA LI TW', 'ES ES SS ES FW TW CL CW CL LI ES', 'CL CL CL SR CL CL CL CL LA LI CL'],
};
const SECURE = {
  input: ['SR ES ES SR SR SR SR SR SR SR SA', 'CL CW SS TW TW TW CL CW LA LI SA', 'ES ES SS SR FW TW CL CW CL LI SA', 'CL CL CL SR CL CL CL CL LA LI CL'],
  output: ['SS ES SS SA SS SS SS SS SS LI SA', 'TW FW SS TW FW TW CL TW LA LI TW', 'ES ES SS ES FW TW CL CW LA ES ES', 'CL CL SS CL CL TW CL CL CL CL CL'],
  inputOnly: ['SA ES ES SR SA SA SA SA SA SA SA', 'CL FW SS TW FW TW CL CW LA LI TW', 'ES ES SS ES FW TW CL CW CL LI ES', 'CL CL CL SR CL CL CL CL LA LI CL'],
};

function compile(t: typeof NORMAL): Uint8Array {
  const out = new Uint8Array(3 * 4 * TCP_STATE_COUNT);
  [t.input, t.output, t.inputOnly].forEach((rows, dir) =>
    rows.forEach((row, event) =>
      row.split(' ').forEach((abbrev, state) => {
        const next = ABBREV.indexOf(abbrev);
        if (next < 0) throw new Error(`tcp-states: bad state ${abbrev}`);
        out[(dir * 4 + event) * TCP_STATE_COUNT + state] = next;
      }),
    ),
  );
  return out;
}

export const TCP_TRANSITIONS = compile(NORMAL);
export const TCP_TRANSITIONS_SECURE = compile(SECURE);

/** The event a TCP flags byte stands for, or -1 (no flag IPVS acts on). */
export function tcpEvent(flags: number): number {
  if (flags & TCP_RST) return TcpEvent.Rst;
  if (flags & TCP_SYN) return TcpEvent.Syn;
  if (flags & TCP_FIN) return TcpEvent.Fin;
  if (flags & TCP_ACK) return TcpEvent.Ack;
  return -1;
}

export function nextTcpState(table: Uint8Array, dir: Direction, event: number, state: number): number {
  if (event < 0) return state;
  return table[(dir * 4 + event) * TCP_STATE_COUNT + state];
}

/** Seconds, as ipvsadm and /proc/sys/net/ipv4/vs show them. */
export const DEFAULT_TCP_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
export const DEFAULT_UDP_TIMEOUT_S = 300;
export const DEFAULT_ICMP_TIMEOUT_S = 60;
/** secure_tcp's short SYN_RECV, so embryonic entries from a flood leave quickly. */
export const SECURE_SYN_RECV_TIMEOUT_S = 10;
