/**
 * Fault plans: scripted misbehaviour of the local KVS, so that clients' retry paths can be tested against a real
 * server. The format, with an example, and the admin API that replaces a running plan are in docs/local-kvs.md.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, KvsPutError } from '../errors.js';
import { fileErrorReason } from '../util/media-file.js';
import { AckEventType, ErrorId } from '../kvs/ack.js';
import { STREAM_NAME } from './stream-reference.js';
import { SERVICE_ERRORS } from './emulator-errors.js';
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

/** One scripted misbehaviour of PutMedia connections (docs/local-kvs.md has the semantics of each effect). */
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
    const reason = fileErrorReason((error as NodeJS.ErrnoException).code);
    throw new KvsPutError(ErrorCode.Io, `cannot read the fault plan ${path}: ${reason}`, {
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
  new KvsPutError(ErrorCode.Config, `invalid fault plan ${source}: ${issues.join('; ')}`, {
    context: { source, issues },
    suggestion: 'see docs/local-kvs.md for the format (the FaultPlan type in src/emulator/fault-plan.ts)',
  });
