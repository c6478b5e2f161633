// One BFD session's state machine (RFC 5880 6.8), apart from any packet: told what arrived and
// what time it is, it says what to send. tapvs takes the passive role (6.1): it speaks only to a
// peer that spoke first, the BGP speaker whose static routes to tapvs BFD keeps alive.

import { BfdDiag, BfdState, type BfdFields } from '../packet/bfd.js';

export interface BfdTimers {
  /** What we would like to send at once Up (µs). */
  desiredMinTxUs: number;
  /** The fastest we accept packets (µs). */
  requiredMinRxUs: number;
  detectMult: number;
}

/** RFC 5880 6.8.3: while not Up, no faster than one packet a second. */
const SLOW_TX_US = 1_000_000;

/** A control packet as the session reads it (a BfdView, or a test's object). */
export type BfdReceived = Pick<BfdFields, 'state' | 'poll' | 'final' | 'detectMult' | 'myDiscr' | 'yourDiscr' | 'desiredMinTxUs' | 'requiredMinRxUs'> & { demand: boolean };

export interface BfdSessionActions {
  send(session: BfdSession, fields: BfdFields): void;
  transition(session: BfdSession, from: BfdState, to: BfdState): void;
}

export class BfdSession {
  state = BfdState.Down;
  diag: number = BfdDiag.None;
  remoteDiscr = 0;
  remoteState = BfdState.Down;
  private remoteDemand = false;
  /** The peer's Required Min RX: 0 means send nothing periodic. */
  private remoteMinRxUs = 1;
  /** What the peer last said it sends at, and its multiplier: our detection time. */
  private remoteDesiredMinTxUs = SLOW_TX_US;
  private remoteDetectMult = 1;
  /** What we advertise; the configured rate only while Up (6.8.3). */
  private desiredMinTxUs = SLOW_TX_US;
  /** A Poll Sequence for a changed rate runs until the peer answers with Final. */
  private polling = false;
  private nextTxAt = Infinity;
  private detectAt = Infinity;

  constructor(
    readonly localDiscr: number,
    private readonly timers: BfdTimers,
    private readonly actions: BfdSessionActions,
    private readonly random: () => number = Math.random,
  ) {}

  /** When tick() has work next (ms, on the caller's clock). */
  get nextDeadline(): number {
    return Math.min(this.nextTxAt, this.detectAt);
  }

  /** RFC 5880 6.8.4: the remote multiplier times the slower of our RX and its TX (ms). */
  get detectionTimeMs(): number {
    return (this.remoteDetectMult * Math.max(this.timers.requiredMinRxUs, this.remoteDesiredMinTxUs)) / 1000;
  }

  /** RFC 5880 6.8.7: the slower of our TX and the peer's RX, less 0-25% jitter (10-25% at multiplier 1). */
  private txIntervalMs(): number {
    const base = Math.max(this.desiredMinTxUs, this.remoteMinRxUs) / 1000;
    const jitter = this.timers.detectMult === 1 ? 0.1 + 0.15 * this.random() : 0.25 * this.random();
    return base * (1 - jitter);
  }

  /** RFC 5880 6.8.6, after the session was chosen: the packet's news for the state machine. */
  receive(now: number, p: BfdReceived): void {
    if (this.state === BfdState.AdminDown) return;
    this.remoteDiscr = p.myDiscr;
    this.remoteState = p.state;
    this.remoteDemand = p.demand;
    this.remoteMinRxUs = p.requiredMinRxUs;
    this.remoteDesiredMinTxUs = p.desiredMinTxUs;
    this.remoteDetectMult = p.detectMult;
    if (p.final) this.polling = false;
    const was = this.state;
    if (p.state === BfdState.AdminDown) {
      if (this.state !== BfdState.Down) this.become(BfdState.Down, BfdDiag.NeighborSignaledDown);
    } else if (this.state === BfdState.Down) {
      if (p.state === BfdState.Down) this.become(BfdState.Init, BfdDiag.None);
      else if (p.state === BfdState.Init) this.become(BfdState.Up, BfdDiag.None);
    } else if (this.state === BfdState.Init) {
      if (p.state === BfdState.Init || p.state === BfdState.Up) this.become(BfdState.Up, BfdDiag.None);
    } else if (p.state === BfdState.Down) {
      this.become(BfdState.Down, BfdDiag.NeighborSignaledDown);
    }
    this.detectAt = now + this.detectionTimeMs;
    if (p.poll) this.transmit(now, false, true); // answered at once, whatever the timer says
    else if (this.state !== was || this.nextTxAt === Infinity) this.transmit(now, this.polling, false); // passive: the first packet goes now
  }

  tick(now: number): void {
    if (now >= this.detectAt) {
      this.detectAt = Infinity;
      if (this.state === BfdState.Init || this.state === BfdState.Up) this.become(BfdState.Down, BfdDiag.DetectionTimeExpired);
      // RFC 5880 6.8.1: the peer is forgotten; as the passive side we fall silent until it speaks.
      this.remoteDiscr = 0;
      this.remoteMinRxUs = 1;
      this.nextTxAt = Infinity;
      return;
    }
    if (now < this.nextTxAt) return;
    const demandActive = this.remoteDemand && this.state === BfdState.Up && this.remoteState === BfdState.Up;
    if (this.remoteMinRxUs === 0 || (demandActive && !this.polling)) {
      this.nextTxAt = now + this.txIntervalMs();
      return;
    }
    this.transmit(now, this.polling, false);
  }

  /** A graceful stop: AdminDown, said once; the peer takes it as a signal, not a failure. */
  adminDown(): void {
    if (this.remoteDiscr !== 0) this.actions.send(this, this.fields(false, false, BfdState.AdminDown, BfdDiag.AdministrativelyDown));
    this.become(BfdState.AdminDown, BfdDiag.AdministrativelyDown);
    this.nextTxAt = this.detectAt = Infinity;
  }

  private transmit(now: number, poll: boolean, final: boolean): void {
    this.actions.send(this, this.fields(poll, final, this.state, this.diag));
    if (!final || this.nextTxAt === Infinity) this.nextTxAt = now + this.txIntervalMs();
  }

  private fields(poll: boolean, final: boolean, state: BfdState, diag: number): BfdFields {
    return { diag, state, poll, final, detectMult: this.timers.detectMult, myDiscr: this.localDiscr, yourDiscr: this.remoteDiscr, desiredMinTxUs: this.desiredMinTxUs, requiredMinRxUs: this.timers.requiredMinRxUs };
  }

  private become(to: BfdState, diag: number): void {
    const from = this.state;
    this.state = to;
    this.diag = diag;
    // Up: the configured rate, announced in a Poll Sequence; otherwise back to one a second.
    const desired = to === BfdState.Up ? this.timers.desiredMinTxUs : SLOW_TX_US;
    if (desired !== this.desiredMinTxUs) {
      this.desiredMinTxUs = desired;
      this.polling = to === BfdState.Up;
    }
    if (from !== to) this.actions.transition(this, from, to);
  }
}
