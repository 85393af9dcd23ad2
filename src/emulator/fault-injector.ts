/**
 * The running fault plan of the local KVS: which rules are due for each control-plane call and PutMedia connection,
 * with the counters `GET /_admin/faults` shows. The plan's format and its validation are in fault-plan.ts; acting a
 * fault out on a connection is the job of the route it strikes (the router for control-plane calls, the PutMedia
 * session for the rest).
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../util/clock.js';
import { sleep, systemClock } from '../util/clock.js';
import { KvsServiceError, statusCodeForErrorType } from './emulator-errors.js';
import type { FaultErrorSpec, FaultPlan } from './fault-plan.js';
import { WITHHOLDABLE_ACKS } from './fault-plan.js';

/** The effects of the rules that fired for one PutMedia connection (undefined fields: no such fault). */
export type PutMediaFaults = {
  /** Indices (in `putMedia`) of the rules that fired. */
  ruleIndices: number[];
  refuse: { type: string; statusCode: number; message: string } | undefined;
  resetAfterBytes: number | undefined;
  resetAfterFragment: number | undefined;
  errorAtFragment: { fragment: number; errorId: number; errorCode: string | undefined } | undefined;
  ackDelayMs: number;
  withholdAcks: { fromFragment: number; toFragment: number; events: ReadonlySet<string> }[];
  stall:
    | { afterBytes: number | undefined; afterFragment: number | undefined; durationMs: number | undefined }
    | undefined;
};

/** What a fired control-plane rule asks the server to do for one call. */
export type ControlPlaneFault = {
  /** Index of the rule in `controlPlane`. */
  ruleIndex: number;
  delayMs: number;
  isConnectionReset: boolean;
  error: { type: string; statusCode: number; message: string } | undefined;
};

/** How a rule has been used so far (shown by `GET /_admin/faults`). */
export type FaultRuleState = { section: string; ruleIndex: number; matchedCalls: number; firedCalls: number };

/** The running plan and its counters. Replacing the plan resets every counter. */
export class FaultInjector {
  private currentPlan: FaultPlan;
  private controlPlaneCounters: { matched: number; fired: number }[];
  private putMediaCounters: { matched: number; fired: number }[];
  /** When the plan was installed (the clock's monotonic ms): `windowMs` counts from here. */
  private installedAtMs: number;
  private readonly clock: Clock;

  /** @param clock what `windowMs` is measured on. @default the machine's clock */
  public constructor(plan: FaultPlan = {}, clock: Clock = systemClock) {
    this.clock = clock;
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.putMediaCounters = (plan.putMedia ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.installedAtMs = clock.monotonicMs();
  }

  public get plan(): FaultPlan {
    return this.currentPlan;
  }

  public replace(plan: FaultPlan): void {
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.putMediaCounters = (plan.putMedia ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.installedAtMs = this.clock.monotonicMs();
  }

  /**
   * Counts a new PutMedia connection to `streamName` against every rule naming that stream and returns the
   * combined effects of the rules due for it (an empty `ruleIndices` when none is).
   */
  public nextPutMediaFaults(streamName: string): PutMediaFaults {
    const faults: PutMediaFaults = {
      ruleIndices: [],
      refuse: undefined,
      resetAfterBytes: undefined,
      resetAfterFragment: undefined,
      errorAtFragment: undefined,
      ackDelayMs: 0,
      withholdAcks: [],
      stall: undefined,
    };
    const elapsedMs = this.clock.monotonicMs() - this.installedAtMs;
    (this.currentPlan.putMedia ?? []).forEach((rule, ruleIndex) => {
      const counter = this.putMediaCounters[ruleIndex];
      const streams = rule.streams ?? '*';
      if (counter === undefined || (streams !== '*' && !streams.includes(streamName))) {
        return;
      }
      if (rule.windowMs !== undefined && elapsedMs > rule.windowMs) {
        return;
      }
      counter.matched++;
      const times = rule.times ?? (rule.windowMs === undefined ? 1 : 'always');
      const isDue =
        counter.matched > (rule.skipConnections ?? 0) && (times === 'always' || counter.fired < times);
      if (!isDue) {
        return;
      }
      counter.fired++;
      faults.ruleIndices.push(ruleIndex);
      if (rule.refuse !== undefined) {
        faults.refuse ??= resolveFaultError(rule.refuse);
      }
      if (rule.resetAfterBytes !== undefined) {
        faults.resetAfterBytes = Math.min(faults.resetAfterBytes ?? Infinity, rule.resetAfterBytes);
      }
      if (rule.resetAfterFragment !== undefined) {
        faults.resetAfterFragment = Math.min(faults.resetAfterFragment ?? Infinity, rule.resetAfterFragment);
      }
      if (rule.errorAtFragment !== undefined && faults.errorAtFragment === undefined) {
        faults.errorAtFragment = {
          fragment: rule.errorAtFragment.fragment,
          errorId: rule.errorAtFragment.errorId,
          errorCode: rule.errorAtFragment.errorCode,
        };
      }
      faults.ackDelayMs += rule.ackDelayMs ?? 0;
      if (rule.withholdAcks !== undefined) {
        faults.withholdAcks.push({
          fromFragment: rule.withholdAcks.fromFragment ?? 1,
          toFragment: rule.withholdAcks.toFragment ?? Infinity,
          events: new Set(rule.withholdAcks.events ?? WITHHOLDABLE_ACKS),
        });
      }
      if (rule.stall !== undefined && faults.stall === undefined) {
        faults.stall = {
          afterBytes: rule.stall.afterBytes,
          afterFragment: rule.stall.afterFragment,
          durationMs: rule.stall.durationMs,
        };
      }
    });
    return faults;
  }

  /**
   * Counts a control-plane call against every rule that names its operation and returns the fault of the
   * first rule that fires for it, if any.
   */
  public nextControlPlaneFault(operation: string): ControlPlaneFault | undefined {
    let fault: ControlPlaneFault | undefined;
    (this.currentPlan.controlPlane ?? []).forEach((rule, ruleIndex) => {
      const counter = this.controlPlaneCounters[ruleIndex];
      if (counter === undefined || (rule.operations !== '*' && !rule.operations.includes(operation))) {
        return;
      }
      counter.matched++;
      const times = rule.times ?? 1;
      const isDue = counter.matched > (rule.skipCalls ?? 0) && (times === 'always' || counter.fired < times);
      if (!isDue || fault !== undefined) {
        return;
      }
      counter.fired++;
      fault = {
        ruleIndex,
        delayMs: rule.delayMs ?? 0,
        isConnectionReset: rule.resetConnection ?? false,
        error: rule.error === undefined ? undefined : resolveFaultError(rule.error),
      };
    });
    return fault;
  }

  /** Per-rule counters, for the admin endpoint and tests (PutMedia rules count connections). */
  public state(): FaultRuleState[] {
    return [
      ...this.controlPlaneCounters.map((counter, ruleIndex) => ({
        section: 'controlPlane',
        ruleIndex,
        matchedCalls: counter.matched,
        firedCalls: counter.fired,
      })),
      ...this.putMediaCounters.map((counter, ruleIndex) => ({
        section: 'putMedia',
        ruleIndex,
        matchedCalls: counter.matched,
        firedCalls: counter.fired,
      })),
    ];
  }
}

/** The concrete error a fault spec stands for. */
export const resolveFaultError = (
  spec: FaultErrorSpec,
): { type: string; statusCode: number; message: string } => {
  const type = typeof spec === 'string' ? spec : spec.type;
  const statusCode =
    (typeof spec === 'string' ? undefined : spec.statusCode) ?? statusCodeForErrorType(type) ?? 500;
  const message =
    (typeof spec === 'string' ? undefined : spec.message) ??
    `Injected fault: ${type} (kvs-put local fault plan).`;
  return { type, statusCode, message };
};

/**
 * Acts out a control-plane fault on its call: waits its delay, then drops the connection or throws its error
 * answer; a fault with neither only makes the call late. Returns whether the connection was dropped (nothing is
 * answered then).
 */
export const applyControlPlaneFault = async (
  fault: ControlPlaneFault,
  request: IncomingMessage,
  clock: Clock,
): Promise<boolean> => {
  if (fault.delayMs > 0) {
    await sleep(clock, fault.delayMs);
  }
  if (fault.isConnectionReset) {
    request.socket.destroy();
    return true;
  }
  if (fault.error !== undefined) {
    throw new KvsServiceError(fault.error.type, fault.error.message, fault.error.statusCode);
  }
  return false;
};
