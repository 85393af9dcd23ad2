/**
 * Fault plans: scripted misbehaviour of the local KVS, so clients' retry paths can be tested against a real
 * server (issue 3 "Fault injection"; kvs-api.md §11 item 6).
 *
 * A plan is JSON (from `--faults FILE`, the `faults` option, or `POST /_admin/faults` on loopback) with one
 * section per place a fault can strike. This module defines the control-plane section; the data plane adds its
 * own sections (per PutMedia connection, per fragment) next to it: a section is a list of rules, each rule
 * counts the calls it matches and fires for a scripted number of them.
 *
 * ```json
 * { "controlPlane": [
 *     { "operations": ["DescribeStream"], "times": 2, "error": "ClientLimitExceededException" },
 *     { "operations": "*", "skipCalls": 5, "times": 1, "error": { "type": "InternalFailure", "statusCode": 500 } },
 *     { "operations": ["GetDataEndpoint"], "delayMs": 2000 },
 *     { "operations": ["ListStreams"], "resetConnection": true }
 * ] }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, KvsPutError } from '../errors.js';
import { SERVICE_ERRORS, statusCodeForErrorType } from './emulator-errors.js';

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

/**
 * A whole fault plan. Sections are optional; an empty plan (`{}`) means a well-behaved service.
 * The data plane extends this type with its own sections (PutMedia connections and fragments).
 */
export type FaultPlan = {
  controlPlane?: readonly ControlPlaneFaultRule[];
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

const PLAN_SECTIONS = ['controlPlane'] as const;
const RULE_KEYS = ['operations', 'skipCalls', 'times', 'error', 'delayMs', 'resetConnection'] as const;

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
  const plan: { controlPlane?: ControlPlaneFaultRule[] } = {};
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

  public constructor(plan: FaultPlan = {}) {
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
  }

  public get plan(): FaultPlan {
    return this.currentPlan;
  }

  public replace(plan: FaultPlan): void {
    this.currentPlan = plan;
    this.controlPlaneCounters = (plan.controlPlane ?? []).map(() => ({ matched: 0, fired: 0 }));
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

  /** Per-rule counters, for the admin endpoint and tests. */
  public state(): FaultRuleState[] {
    return this.controlPlaneCounters.map((counter, ruleIndex) => ({
      section: 'controlPlane',
      ruleIndex,
      matchedCalls: counter.matched,
      firedCalls: counter.fired,
    }));
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
