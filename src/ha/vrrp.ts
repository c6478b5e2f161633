// One VRRP virtual router's state machine (RFC 5798 6.4), apart from any packet: it is told
// what arrived and what time it is, and says what to send and when its state changes. The
// wire is src/packet/vrrp.ts; src/ha/ha.ts joins the two to the router.

import { PRIORITY_OWNER, PRIORITY_RELEASE } from '../packet/vrrp.js';

/**
 * A router's primary address, as the election compares it (RFC 5798 6.4.3: as an unsigned
 * integer): an IPv4 address, or an IPv6 link-local address as a bigint.
 */
export type VrrpAddress = number | bigint;

export const enum VrrpState {
  Init = 0,
  Backup = 1,
  Master = 2,
}
export const VRRP_STATE_NAMES = ['INIT', 'BACKUP', 'MASTER'] as const;

export interface VrrpSettings {
  vrid: number;
  priority: number;
  /** Our advertisement interval, centiseconds. */
  intervalCs: number;
  /** Take over from a master of lower priority (RFC 5798's Preempt_Mode; keepalived's default). */
  preempt: boolean;
  /** The primary address we advertise from: it breaks ties between equal priorities. */
  address: VrrpAddress;
}

export interface VrrpActions {
  /** Send an advertisement with this priority (0 when we step down). */
  advertise(priority: number): void;
  /** The state changed, and why (for the log). */
  transition(from: VrrpState, to: VrrpState, reason: string): void;
  /** A master heard another master it outranks: both were master at once (a partition healing). */
  twoMasters(peer: VrrpAddress, peerPriority: number): void;
}

export class VrrpInstance {
  state = VrrpState.Init;
  /** The master's advertisement interval as last heard (RFC 5798 Master_Adver_Interval), centiseconds. */
  private masterIntervalCs: number;
  /** When a backup declares the master dead, or a master advertises next (ms, on the caller's clock). */
  private deadline = Infinity;
  /** The master we last heard, for the log and a bulk resync. */
  master: { address: VrrpAddress; priority: number } | null = null;
  /**
   * While true, a backup does not take over even when the master goes quiet or it outranks the
   * master: it is still receiving the connection table (src/ha/sync.ts's bulk resync).
   */
  holdMastership = false;
  transitions = 0;

  constructor(
    readonly settings: VrrpSettings,
    private readonly actions: VrrpActions,
  ) {
    this.masterIntervalCs = settings.intervalCs;
  }

  private get skewMs(): number {
    return (((256 - this.settings.priority) * this.masterIntervalCs) / 256) * 10;
  }

  /** Master_Down_Interval (RFC 5798 6.1): three intervals and a skew that favours higher priority. */
  get masterDownMs(): number {
    return 3 * this.masterIntervalCs * 10 + this.skewMs;
  }

  /** The next time tick() has work to do. */
  get nextDeadline(): number {
    return this.deadline;
  }

  start(now: number): void {
    if (this.settings.priority === PRIORITY_OWNER && !this.holdMastership) return this.becomeMaster(now, 'address owner (priority 255)');
    this.becomeBackup(now, 'start');
  }

  tick(now: number): void {
    if (now < this.deadline) return;
    if (this.state === VrrpState.Master) {
      this.actions.advertise(this.settings.priority);
      this.deadline = now + this.settings.intervalCs * 10;
    } else if (this.state === VrrpState.Backup) {
      if (this.holdMastership) {
        this.deadline = now + this.masterDownMs; // waits for the table; ha.ts lifts the hold
        return;
      }
      this.becomeMaster(now, this.master === null ? 'no master heard' : 'master down');
    }
  }

  /** An advertisement for our VRID from another router. */
  receive(now: number, from: VrrpAddress, priority: number, intervalCs: number): void {
    const ours = this.settings.priority;
    if (this.state === VrrpState.Backup) {
      if (priority === PRIORITY_RELEASE) {
        this.master = null;
        this.deadline = now + this.skewMs; // the master left: the highest backup answers first
        return;
      }
      if (!this.settings.preempt || priority >= ours || this.holdMastership) {
        this.master = { address: from, priority };
        this.masterIntervalCs = intervalCs || this.settings.intervalCs;
        this.deadline = now + this.masterDownMs;
      }
      // else: we outrank it and preempt: let the master-down timer run out (RFC 5798 6.4.2).
      return;
    }
    if (this.state !== VrrpState.Master) return;
    if (priority === PRIORITY_RELEASE) {
      this.actions.advertise(ours);
      this.deadline = now + this.settings.intervalCs * 10;
      return;
    }
    if (priority > ours || (priority === ours && from > this.settings.address)) {
      this.master = { address: from, priority };
      this.masterIntervalCs = intervalCs || this.settings.intervalCs;
      this.becomeBackup(now, `higher priority master ${priority} heard`);
      return;
    }
    this.actions.twoMasters(from, priority);
  }

  /** Shutdown (RFC 5798 6.4.3): a master says priority 0 so a backup takes over at once. */
  stop(): void {
    if (this.state === VrrpState.Master) this.actions.advertise(PRIORITY_RELEASE);
    this.change(VrrpState.Init, 'stop');
    this.deadline = Infinity;
  }

  private becomeMaster(now: number, reason: string): void {
    this.master = null;
    this.change(VrrpState.Master, reason);
    this.actions.advertise(this.settings.priority);
    this.deadline = now + this.settings.intervalCs * 10;
  }

  private becomeBackup(now: number, reason: string): void {
    this.deadline = now + this.masterDownMs;
    this.change(VrrpState.Backup, reason);
  }

  private change(to: VrrpState, reason: string): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.transitions++;
    this.actions.transition(from, to, reason);
  }
}
