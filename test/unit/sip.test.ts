import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sipCallIdHash } from '../../src/lvs/sip.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hash = (s: string) => {
  const b = enc(s);
  return sipCallIdHash(b, 0, b.length);
};
const invite = (callIdLine: string, eol = '\r\n') =>
  ['INVITE sip:bob@192.168.1.2 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK776asdhds', 'From: <sip:alice@10.0.0.2>;tag=1928301774', callIdLine, 'CSeq: 314159 INVITE', '', 'v=0'].join(eol);

test('the long form, any case, with or without space before the colon', () => {
  const h = hash(invite('Call-ID: a84b4c76e66710@pc33.atlanta.com'));
  assert.ok(h >= 0);
  assert.is(hash(invite('call-id: a84b4c76e66710@pc33.atlanta.com')), h);
  assert.is(hash(invite('CALL-ID :a84b4c76e66710@pc33.atlanta.com')), h);
  assert.is(hash(invite('Call-ID:\ta84b4c76e66710@pc33.atlanta.com   ')), h);
});

test('the compact form i: is the same header', () => {
  assert.is(hash(invite('i: a84b4c76e66710@pc33.atlanta.com')), hash(invite('Call-ID: a84b4c76e66710@pc33.atlanta.com')));
  assert.is(hash(invite('I:a84b4c76e66710@pc33.atlanta.com')), hash(invite('Call-ID: a84b4c76e66710@pc33.atlanta.com')));
});

test('a folded value reads as one space; LF-only line ends work too', () => {
  assert.is(hash(invite('Call-ID: abc\r\n  def')), hash(invite('Call-ID: abc def')));
  assert.is(hash(invite('Call-ID: xyz@host', '\n')), hash(invite('Call-ID: xyz@host')));
});

test('responses carry the call too', () => {
  const ok = ['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 10.0.0.2:5060', 'Call-ID: a84b4c76e66710@pc33.atlanta.com', '', ''].join('\r\n');
  assert.is(hash(ok), hash(invite('Call-ID: a84b4c76e66710@pc33.atlanta.com')));
});

test('different calls, different hashes', () => {
  assert.is.not(hash(invite('Call-ID: one@host')), hash(invite('Call-ID: two@host')));
});

test('not SIP, no Call-ID, a Call-ID only in the body, or an empty one: -1', () => {
  assert.is(hash('GET / HTTP/1.1\r\nCall-ID: x\r\n\r\n'), -1);
  assert.is(hash(invite('Subject: hello')), -1);
  assert.is(hash(['INVITE sip:b@h SIP/2.0', 'Via: x', '', 'Call-ID: in-the-body'].join('\r\n')), -1);
  assert.is(hash(invite('Call-ID:   ')), -1);
  assert.is(hash(''), -1);
  assert.is(hash('SIP/2.0'), -1);
  assert.is(sipCallIdHash(new Uint8Array(70000).fill(0x41), 0, 70000), -1, 'bounded scan of garbage');
});

test.run();
