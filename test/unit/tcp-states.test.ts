import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Direction, TCP_STATE_NAMES, TCP_TRANSITIONS, TcpState, nextTcpState, tcpEvent } from '../../src/lvs/tcp-states.js';

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04;
const walk = (dir: Direction, ...flags: number[]) => {
  let s: number = TcpState.None;
  const seen: string[] = [];
  for (const f of flags) {
    s = nextTcpState(TCP_TRANSITIONS, dir, tcpEvent(f), s);
    seen.push(TCP_STATE_NAMES[s]);
  }
  return seen;
};

test('the event of a flags byte: RST over SYN over FIN over ACK', () => {
  assert.is(tcpEvent(SYN | ACK), 0);
  assert.is(tcpEvent(FIN | ACK), 1);
  assert.is(tcpEvent(ACK), 2);
  assert.is(tcpEvent(RST | ACK), 3);
  assert.is(tcpEvent(0x08), -1, 'PSH alone changes nothing');
});

test('DR/TUN (input only): a client handshake and close, as the director sees it', () => {
  assert.equal(walk(Direction.InputOnly, SYN, ACK, ACK, FIN | ACK, ACK), ['SYN_RECV', 'ESTABLISHED', 'ESTABLISHED', 'FIN_WAIT', 'FIN_WAIT']);
});

test('DR/TUN: a RST closes; a lone SYN stays embryonic', () => {
  assert.equal(walk(Direction.InputOnly, SYN, ACK, RST), ['SYN_RECV', 'ESTABLISHED', 'CLOSE']);
  assert.equal(walk(Direction.InputOnly, SYN, SYN), ['SYN_RECV', 'SYN_RECV']);
});

test('NAT (both directions): the server closes first', () => {
  let s: number = TcpState.None;
  const step = (dir: Direction, f: number) => (s = nextTcpState(TCP_TRANSITIONS, dir, tcpEvent(f), s), TCP_STATE_NAMES[s]);
  assert.is(step(Direction.Input, SYN), 'SYN_RECV');
  assert.is(step(Direction.Output, SYN | ACK), 'SYN_RECV');
  assert.is(step(Direction.Input, ACK), 'ESTABLISHED');
  assert.is(step(Direction.Output, FIN | ACK), 'FIN_WAIT');
  assert.is(step(Direction.Input, FIN | ACK), 'TIME_WAIT');
});

test.run();
