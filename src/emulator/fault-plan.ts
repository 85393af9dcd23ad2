/**
 * Fault plans: scripted misbehaviour of the local KVS, so clients' retry paths can be tested against a real
 * server (issue 3 "Fault injection"; kvs-api.md §11 item 6).
 *
 * A plan is JSON (from `--faults FILE`, the `faults` option, or `POST /_admin/faults` on loopback, which replaces
 * the running plan and resets its counters; `GET /_admin/faults` shows the plan and how often each rule matched
 * and fired). It has one optional section per place a fault can strike; each section is a list of rules; a rule
 * counts the calls (or PutMedia connections) it matches and fires for a scripted number of them, so a test can
 * say "the first connection fails at fragment 3, the second succeeds".
 *
 * **`controlPlane`**: control-plane calls (CreateStream, DescribeStream, GetDataEndpoint, …). For each call the
 * first due rule fires: an error answer, a delay, or a dropped connection.
 *
 * **`putMedia`**: PutMedia connections, per stream. Every due rule applies to the connection (their effects
 * combine). Fragment numbers K count the fragments of that connection from 1.
 * - `streams`: stream names the rule applies to (default every stream);
 * - `skipConnections` (default 0), `times` (default 1, or `"always"`), `windowMs` (fire only for connections
 *   opened within this many ms after the plan was installed; `times` then defaults to `"always"`);
 * - `refuse`: answer the request with this error instead of the 200 (e.g. `"ConnectionLimitExceededException"`,
 *   `{"type": "InternalFailure", "statusCode": 500}`, `{"type": "AccessDeniedException", "statusCode": 403}`);
 *   excludes every other effect;
 * - `resetAfterBytes`: N: read N body bytes, then destroy the socket once the fragments completed within them are
 *   stored and acked (the fragment in progress is lost);
 * - `resetAfterFragment`: K: destroy the socket right after fragment K is stored and its acks are written;
 * - `errorAtFragment`: `{"fragment": K, "errorId": 5000, "errorCode"?: "INTERNAL_ERROR"}`: when fragment K starts
 *   (after its BUFFERING ack), send this ERROR ack and close, as the service does; K is not stored;
 * - `ackDelayMs`: N: every ack (IDLE included) goes out N ms late, order kept;
 * - `withholdAcks`: `{"fromFragment": K, "toFragment"?: L, "events"?: ["BUFFERING", "RECEIVED", "PERSISTED"]}`:
 *   never send those acks for fragments K..L (every later fragment when L is absent); fragments are still stored,
 *   so a client's staleness detection fires while the service holds its data;
 * - `stall`: `{"afterBytes"?: N, "afterFragment"?: K, "durationMs"?: D}`: stop reading the body after N bytes
 *   (default 0) or once fragment K is complete (the few KB read past its end are still processed), for D ms
 *   (default: until the connection ends). Nothing is read, so the client's writes block, and no IDLE ack nor
 *   idle close happens meanwhile. When it ends, the bytes waiting in the socket are ingested only if the client
 *   is still there: a client that gave up on the connection meanwhile has nothing more stored from it.
 *
 * ```json
 * { "controlPlane": [
 *     { "operations": ["DescribeStream"], "times": 2, "error": "ClientLimitExceededException" },
 *     { "operations": "*", "skipCalls": 5, "times": 1, "error": { "type": "InternalFailure", "statusCode": 500 } },
 *     { "operations": ["GetDataEndpoint"], "delayMs": 2000 },
 *     { "operations": ["ListStreams"], "resetConnection": true }
 *   ],
 *   "putMedia": [
 *     { "streams": ["cam-1"], "errorAtFragment": { "fragment": 3, "errorId": 5000 } },
 *     { "streams": ["cam-2"], "refuse": "ConnectionLimitExceededException", "windowMs": 2000 },
 *     { "resetAfterBytes": 1000000, "skipConnections": 1 },
 *     { "withholdAcks": { "fromFragment": 2 }, "times": "always" }
 * ] }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, KvsPutError } from '../errors.js';
import { AckEventType, ErrorId } from '../kvs/ack.js';
import { STREAM_NAME } from './control-plane.js';
import { SERVICE_ERRORS, statusCodeForErrorType } from './emulator-errors.js';
import { stringIssues } from './input-validator.js';

/** An error response a fault sends: a known type (status implied) or any type with an explicit status. */
export type FaultErrorSpec =
  | string
  | {
      /** The `x-amzn-ErrorType` sent, e.g. `ThrottlingException`. */
      type: string;
      /** HTTP status; required when the type is not one the emulator knows. */
      statusCode?: number;
      /** The message body. @default a generic text per type */
      message?: string;
    };

/** One scripted control-plane misbehaviour. */
export type ControlPlaneFaultRule = {
  /** Operation names it applies to (`DescribeStream`, …), or `'*'` for every control-plane operation. */
  operations: readonly string[] | '*';
  /** Matching calls let through before the rule fires. @default 0 */
  skipCalls?: number;
  /** How many matching calls it affects after that, or `'always'`. @default 1 */
  times?: number | 'always';
  /** Answer with this error instead of running the operation. */
  error?: FaultErrorSpec;
  /** Wait this long before answering (alone: a slow but correct answer). @default 0 */
  delayMs?: number;
  /** Destroy the connection instead of answering (after `delayMs`). @default false */
  resetConnection?: boolean;
};

/** Ack events a `withholdAcks` rule can hold back. */
export const WITHHOLDABLE_ACKS = [
  AckEventType.Buffering,
  AckEventType.Received,
  AckEventType.Persisted,
] as const;
export type WithholdableAck = (typeof WITHHOLDABLE_ACKS)[number];

/** One scripted misbehaviour of PutMedia connections (see the module doc for the semantics). */
export type PutMediaFaultRule = {
  /** Stream names it applies to, or `'*'`. @default '*' */
  streams?: readonly string[] | '*';
  /** Matching connections let through before the rule fires. @default 0 */
  skipConnections?: number;
  /** How many matching connections it affects, or `'always'`. @default 1 ('always' with `windowMs`) */
  times?: number | 'always';
  /** Fire only for connections opened within this many ms of the plan being installed. */
  windowMs?: number;
  /** Refuse the request with this error (no 200, no acks). */
  refuse?: FaultErrorSpec;
  /** Destroy the socket after this many body bytes. */
  resetAfterBytes?: number;
  /** Destroy the socket once fragment K (1-based) is stored and acked. */
  resetAfterFragment?: number;
  /** Send this ERROR ack when fragment K starts, then close. `errorCode` defaults to the id's service code. */
  errorAtFragment?: { fragment: number; errorId: number; errorCode?: string };
  /** Send every ack this many ms late. */
  ackDelayMs?: number;
  /** Never send these acks (default BUFFERING, RECEIVED and PERSISTED) for fragments K..L. */
  withholdAcks?: { fromFragment?: number; toFragment?: number; events?: readonly WithholdableAck[] };
  /** Stop reading the body after N bytes or after fragment K, for D ms (default: until the connection ends). */
  stall?: { afterBytes?: number; afterFragment?: number; durationMs?: number };
};

/**
 * A whole fault plan. Sections are optional; an empty plan (`{}`) means a well-behaved service.
 */
export type FaultPlan = {
  controlPlane?: readonly ControlPlaneFaultRule[];
  putMedia?: readonly PutMediaFaultRule[];
};

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

const PLAN_SECTIONS = ['controlPlane', 'putMedia'] as const;
const RULE_KEYS = ['operations', 'skipCalls', 'times', 'error', 'delayMs', 'resetConnection'] as const;
const PUT_MEDIA_RULE_KEYS = [
  'streams',
  'skipConnections',
  'times',
  'windowMs',
  'refuse',
  'resetAfterBytes',
  'resetAfterFragment',
  'errorAtFragment',
  'ackDelayMs',
  'withholdAcks',
  'stall',
] as const;

/**
 * Validates a parsed JSON value as a fault plan, listing every problem at once.
 * @param knownOperations operation names a rule may name (typos are errors, not rules that never fire).
 */
export const parseFaultPlan = (
  value: unknown,
  options: { source: string; knownOperations: readonly string[] },
): FaultPlan => {
  const issues: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw planError(options.source, ['the plan must be a JSON object']);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(PLAN_SECTIONS as readonly string[]).includes(key)) {
      issues.push(`unknown section "${key}" (known: ${PLAN_SECTIONS.join(', ')})`);
    }
  }
  const plan: { controlPlane?: ControlPlaneFaultRule[]; putMedia?: PutMediaFaultRule[] } = {};
  const rules = record['controlPlane'];
  if (rules !== undefined) {
    if (!Array.isArray(rules)) {
      issues.push('"controlPlane" must be a list of rules');
    } else {
      plan.controlPlane = rules.map((rule, index) =>
        checkRule(rule, `controlPlane[${index}]`, options.knownOperations, issues),
      );
    }
  }
  const putMediaRules = record['putMedia'];
  if (putMediaRules !== undefined) {
    if (!Array.isArray(putMediaRules)) {
      issues.push('"putMedia" must be a list of rules');
    } else {
      plan.putMedia = putMediaRules.map((rule, index) =>
        checkPutMediaRule(rule, `putMedia[${index}]`, issues),
      );
    }
  }
  if (issues.length > 0) {
    throw planError(options.source, issues);
  }
  return plan;
};

/** Reads and validates a fault plan file. */
export const loadFaultPlan = async (path: string, knownOperations: readonly string[]): Promise<FaultPlan> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new KvsPutError(ErrorCode.Io, `Cannot read the fault plan ${path}: ${code}`, {
      context: { path },
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw planError(path, [`not valid JSON (${error instanceof Error ? error.message : String(error)})`]);
  }
  return parseFaultPlan(value, { source: path, knownOperations });
};

/** The running plan and its counters. Replacing the plan resets every counter. */
export class FaultInjector {
  private currentPlan: FaultPlan;
  private controlPlaneCounters: { matched: number; fired: number }[];
  private putMediaCounters: { matched: number; fired: number }[];
  /** When the plan was installed (wall clock, ms): `windowMs` counts from here. */
  private installedAtMs: number;

  public constructor(plan: FaultPlan = {}) {
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.putMediaCounters = (plan.putMedia ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.installedAtMs = Date.now();
  }

  public get plan(): FaultPlan {
    return this.currentPlan;
  }

  public replace(plan: FaultPlan): void {
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.putMediaCounters = (plan.putMedia ?? []).map(() => ({ matched: 0, fired: 0 }));
    this.installedAtMs = Date.now();
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
    const elapsedMs = Date.now() - this.installedAtMs;
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

const checkRule = (
  value: unknown,
  where: string,
  knownOperations: readonly string[],
  issues: string[],
): ControlPlaneFaultRule => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push(`${where} must be an object`);
    return { operations: [] };
  }
  const rule = value as Record<string, unknown>;
  for (const key of Object.keys(rule)) {
    if (!(RULE_KEYS as readonly string[]).includes(key)) {
      issues.push(`${where} has unknown key "${key}" (known: ${RULE_KEYS.join(', ')})`);
    }
  }
  const operations = rule['operations'];
  if (operations !== '*') {
    if (
      !Array.isArray(operations) ||
      operations.length === 0 ||
      !operations.every((item) => typeof item === 'string')
    ) {
      issues.push(`${where}.operations must be "*" or a non-empty list of operation names`);
    } else {
      for (const operation of operations) {
        if (!knownOperations.includes(operation)) {
          issues.push(
            `${where}.operations names unknown operation "${operation}" (known: ${knownOperations.join(', ')})`,
          );
        }
      }
    }
  }
  const checkCount = (key: string, minimum: number): void => {
    const count = rule[key];
    if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < minimum)) {
      issues.push(`${where}.${key} must be an integer ≥ ${minimum}`);
    }
  };
  checkCount('skipCalls', 0);
  checkCount('delayMs', 0);
  if (rule['times'] !== 'always') {
    checkCount('times', 1);
  }
  if (rule['resetConnection'] !== undefined && typeof rule['resetConnection'] !== 'boolean') {
    issues.push(`${where}.resetConnection must be true or false`);
  }
  const error = rule['error'];
  if (error !== undefined) {
    checkErrorSpec(error, `${where}.error`, issues);
  }
  if (error === undefined && rule['delayMs'] === undefined && rule['resetConnection'] !== true) {
    issues.push(`${where} does nothing: give it an "error", a "delayMs" or "resetConnection": true`);
  }
  return rule as ControlPlaneFaultRule;
};

const checkPutMediaRule = (value: unknown, where: string, issues: string[]): PutMediaFaultRule => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push(`${where} must be an object`);
    return {};
  }
  const rule = value as Record<string, unknown>;
  for (const key of Object.keys(rule)) {
    if (!(PUT_MEDIA_RULE_KEYS as readonly string[]).includes(key)) {
      issues.push(`${where} has unknown key "${key}" (known: ${PUT_MEDIA_RULE_KEYS.join(', ')})`);
    }
  }
  const streams = rule['streams'];
  if (
    streams !== undefined &&
    streams !== '*' &&
    (!Array.isArray(streams) ||
      streams.length === 0 ||
      !streams.every((item) => typeof item === 'string' && stringIssues(item, STREAM_NAME).length === 0))
  ) {
    issues.push(`${where}.streams must be "*" or a non-empty list of stream names`);
  }
  const isCount = (count: unknown, minimum: number): boolean =>
    typeof count === 'number' && Number.isInteger(count) && count >= minimum;
  const checkCount = (key: string, minimum: number, object = rule, path = `${where}.${key}`): void => {
    const count = object[key];
    if (count !== undefined && !isCount(count, minimum)) {
      issues.push(`${path} must be an integer ≥ ${minimum}`);
    }
  };
  checkCount('skipConnections', 0);
  checkCount('windowMs', 1);
  checkCount('resetAfterBytes', 0);
  checkCount('resetAfterFragment', 1);
  checkCount('ackDelayMs', 0);
  if (rule['times'] !== undefined && rule['times'] !== 'always') {
    checkCount('times', 1);
  }
  const subObject = (key: string, keys: readonly string[]): Record<string, unknown> | undefined => {
    const item = rule[key];
    if (item === undefined) {
      return undefined;
    }
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      issues.push(`${where}.${key} must be an object`);
      return undefined;
    }
    const record = item as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (!keys.includes(name)) {
        issues.push(`${where}.${key} has unknown key "${name}" (known: ${keys.join(', ')})`);
      }
    }
    return record;
  };
  const errorAt = subObject('errorAtFragment', ['fragment', 'errorId', 'errorCode']);
  if (errorAt !== undefined) {
    if (!isCount(errorAt['fragment'], 1)) {
      issues.push(`${where}.errorAtFragment.fragment must be an integer ≥ 1`);
    }
    if (!isCount(errorAt['errorId'], 1)) {
      issues.push(
        `${where}.errorAtFragment.errorId must be a positive integer such as ${ErrorId.InternalError}`,
      );
    }
    if (errorAt['errorCode'] !== undefined && typeof errorAt['errorCode'] !== 'string') {
      issues.push(`${where}.errorAtFragment.errorCode must be a string`);
    }
  }
  const withhold = subObject('withholdAcks', ['fromFragment', 'toFragment', 'events']);
  if (withhold !== undefined) {
    checkCount('fromFragment', 1, withhold, `${where}.withholdAcks.fromFragment`);
    checkCount('toFragment', 1, withhold, `${where}.withholdAcks.toFragment`);
    const events = withhold['events'];
    if (
      events !== undefined &&
      (!Array.isArray(events) ||
        events.length === 0 ||
        !events.every((event) => (WITHHOLDABLE_ACKS as readonly unknown[]).includes(event)))
    ) {
      issues.push(`${where}.withholdAcks.events must be a non-empty list of ${WITHHOLDABLE_ACKS.join(', ')}`);
    }
  }
  const stall = subObject('stall', ['afterBytes', 'afterFragment', 'durationMs']);
  if (stall !== undefined) {
    checkCount('afterBytes', 0, stall, `${where}.stall.afterBytes`);
    checkCount('afterFragment', 1, stall, `${where}.stall.afterFragment`);
    checkCount('durationMs', 1, stall, `${where}.stall.durationMs`);
    if (stall['afterBytes'] !== undefined && stall['afterFragment'] !== undefined) {
      issues.push(`${where}.stall takes "afterBytes" or "afterFragment", not both`);
    }
  }
  const refuse = rule['refuse'];
  if (refuse !== undefined) {
    checkErrorSpec(refuse, `${where}.refuse`, issues);
  }
  const effects = [
    'resetAfterBytes',
    'resetAfterFragment',
    'errorAtFragment',
    'ackDelayMs',
    'withholdAcks',
    'stall',
  ].filter((key) => rule[key] !== undefined);
  if (refuse !== undefined && effects.length > 0) {
    issues.push(`${where}: a refused connection has no session, so "refuse" excludes ${effects.join(', ')}`);
  }
  if (refuse === undefined && effects.length === 0) {
    issues.push(
      `${where} does nothing: give it "refuse", "resetAfterBytes", "resetAfterFragment", "errorAtFragment", "ackDelayMs", "withholdAcks" or "stall"`,
    );
  }
  return rule;
};

const checkErrorSpec = (value: unknown, where: string, issues: string[]): void => {
  const knownTypes = Object.keys(SERVICE_ERRORS);
  if (typeof value === 'string') {
    if (!knownTypes.includes(value)) {
      issues.push(
        `${where} "${value}" is not a known error type; use {"type": "${value}", "statusCode": N} (known: ${knownTypes.join(', ')})`,
      );
    }
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push(`${where} must be an error type name or {"type", "statusCode"?, "message"?}`);
    return;
  }
  const spec = value as Record<string, unknown>;
  const type = spec['type'];
  const statusCode = spec['statusCode'];
  if (typeof type !== 'string' || !/^[A-Za-z][A-Za-z0-9.#:]*$/.test(type)) {
    issues.push(`${where}.type must be an error type name such as "ThrottlingException"`);
  }
  if (
    statusCode !== undefined &&
    (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 300 || statusCode > 599)
  ) {
    issues.push(`${where}.statusCode must be an HTTP error status (300-599)`);
  }
  if (statusCode === undefined && typeof type === 'string' && !knownTypes.includes(type)) {
    issues.push(`${where}.statusCode is required for the unknown error type "${type}"`);
  }
  if (spec['message'] !== undefined && typeof spec['message'] !== 'string') {
    issues.push(`${where}.message must be a string`);
  }
};

const planError = (source: string, issues: readonly string[]): KvsPutError =>
  new KvsPutError(ErrorCode.Config, `Invalid fault plan ${source}: ${issues.join('; ')}`, {
    context: { source, issues },
    suggestion: 'See the FaultPlan type in src/emulator/fault-plan.ts for the format.',
  });
