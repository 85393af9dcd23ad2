/**
 * Input validation for the local KVS's JSON operations, with the service's error vocabulary
 * (shared/docs/kvs-api.md §1.1, §1.3): the SDK validates nothing, so the emulator must.
 *
 * A member of the wrong JSON type is a `SerializationException` (the request cannot be read). Constraint
 * failures (required, length, pattern, range, enum) are collected and reported together as one
 * `InvalidArgumentException`, worded like AWS's validation messages:
 * `1 validation error detected: Value 'x y' at 'streamName' failed to satisfy constraint: Member must satisfy
 * regular expression pattern: [a-zA-Z0-9_.-]+`.
 */
import { KvsServiceError } from './emulator-errors.js';

/** A JSON object as received. */
export type JsonObject = Record<string, unknown>;

/** Constraints of a string member, as the service model states them. */
export type StringRule = {
  minLength?: number;
  maxLength?: number;
  /** Must match the whole string. */
  pattern?: RegExp;
  /** The pattern as the model writes it, for the message. */
  patternText?: string;
  /** Allowed values (model enums). */
  values?: readonly string[];
};

export type IntegerRule = { min?: number; max?: number };

export type CollectionRule = { minEntries?: number; maxEntries?: number };

/** Collects constraint violations for one input object (or a nested structure of it). */
export class InputValidator {
  private readonly problems: string[];
  private readonly input: JsonObject;
  private readonly pathPrefix: string;

  public constructor(input: JsonObject, pathPrefix = '', problems: string[] = []) {
    this.input = input;
    this.pathPrefix = pathPrefix;
    this.problems = problems;
  }

  /** Whether the member is present (not undefined or null). */
  public has(member: string): boolean {
    return this.input[member] != null;
  }

  public requiredString(member: string, rule: StringRule): string | undefined {
    return this.string(member, rule, true);
  }

  public optionalString(member: string, rule: StringRule): string | undefined {
    return this.string(member, rule, false);
  }

  public requiredInteger(member: string, rule: IntegerRule): number | undefined {
    return this.integer(member, rule, true);
  }

  public optionalInteger(member: string, rule: IntegerRule): number | undefined {
    return this.integer(member, rule, false);
  }

  /**
   * A timestamp member: restJson1 sends epoch seconds as a JSON number (a fraction allowed; a numeric string is
   * read too, as the SDKs read them). Returns epoch milliseconds.
   */
  public timestamp(member: string, isRequired: boolean): number | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    const seconds = typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      throw typeMismatch(this.path(member), 'a timestamp (epoch seconds)');
    }
    return Math.round(seconds * 1000);
  }

  /** A nested structure; returns a validator that reports into the same problem list. */
  public structure(member: string, isRequired: boolean): InputValidator | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw typeMismatch(this.path(member), 'a structure');
    }
    return new InputValidator(value as JsonObject, `${this.path(member)}.`, this.problems);
  }

  /** A `map<string, string>` member (e.g. ResourceTags). */
  public stringMap(
    member: string,
    isRequired: boolean,
    rule: CollectionRule & { key: StringRule; value: StringRule },
  ): Record<string, string> | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    const path = this.path(member);
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw typeMismatch(path, 'a map');
    }
    const entries = Object.entries(value as JsonObject);
    this.checkCount(path, renderMap(entries), entries.length, rule);
    const result: Record<string, string> = {};
    for (const [key, entryValue] of entries) {
      if (typeof entryValue !== 'string') {
        throw typeMismatch(`${path}.${key}`, 'a string');
      }
      const keyIssues = stringIssues(key, rule.key);
      if (keyIssues.length > 0) {
        this.problems.push(
          `Value '${renderMap(entries)}' at '${path}' failed to satisfy constraint: Map keys must satisfy constraint: [${keyIssues.join(', ')}]`,
        );
      }
      const valueIssues = stringIssues(entryValue, rule.value);
      if (valueIssues.length > 0) {
        this.problems.push(
          `Value '${renderMap(entries)}' at '${path}' failed to satisfy constraint: Map value must satisfy constraint: [${valueIssues.join(', ')}]`,
        );
      }
      result[key] = entryValue;
    }
    return result;
  }

  /** A `list<string>` member (e.g. TagKeyList). */
  public stringList(
    member: string,
    isRequired: boolean,
    rule: CollectionRule & { item: StringRule },
  ): string[] | undefined {
    const items = this.list(member, isRequired, rule);
    if (items === undefined) {
      return undefined;
    }
    const path = this.path(member);
    return items.map((item, index) => {
      const itemPath = `${path}.${index + 1}.member`;
      if (typeof item !== 'string') {
        throw typeMismatch(itemPath, 'a string');
      }
      for (const issue of stringIssues(item, rule.item)) {
        this.problems.push(`Value '${item}' at '${itemPath}' failed to satisfy constraint: ${issue}`);
      }
      return item;
    });
  }

  /** A list of structures; each item gets its own validator. */
  public structureList(
    member: string,
    isRequired: boolean,
    rule: CollectionRule,
  ): InputValidator[] | undefined {
    const items = this.list(member, isRequired, rule);
    if (items === undefined) {
      return undefined;
    }
    const path = this.path(member);
    return items.map((item, index) => {
      const itemPath = `${path}.${index + 1}.member`;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw typeMismatch(itemPath, 'a structure');
      }
      return new InputValidator(item as JsonObject, `${itemPath}.`, this.problems);
    });
  }

  /** Adds a problem found by a rule the model cannot express (e.g. a cross-member rule). */
  public addProblem(member: string, value: unknown, constraint: string): void {
    this.problems.push(
      `Value ${renderValue(value)} at '${this.path(member)}' failed to satisfy constraint: ${constraint}`,
    );
  }

  /** Throws one InvalidArgumentException listing every problem found so far. */
  public finish(): void {
    if (this.problems.length === 0) {
      return;
    }
    const count = this.problems.length;
    throw new KvsServiceError(
      'InvalidArgumentException',
      `${count} validation error${count === 1 ? '' : 's'} detected: ${this.problems.join('; ')}`,
    );
  }

  private string(member: string, rule: StringRule, isRequired: boolean): string | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    if (typeof value !== 'string') {
      throw typeMismatch(this.path(member), 'a string');
    }
    for (const issue of stringIssues(value, rule)) {
      this.problems.push(`Value '${value}' at '${this.path(member)}' failed to satisfy constraint: ${issue}`);
    }
    return value;
  }

  private integer(member: string, rule: IntegerRule, isRequired: boolean): number | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw typeMismatch(this.path(member), 'an integer');
    }
    if (rule.min !== undefined && value < rule.min) {
      this.problems.push(
        `Value '${value}' at '${this.path(member)}' failed to satisfy constraint: Member must have value greater than or equal to ${rule.min}`,
      );
    }
    if (rule.max !== undefined && value > rule.max) {
      this.problems.push(
        `Value '${value}' at '${this.path(member)}' failed to satisfy constraint: Member must have value less than or equal to ${rule.max}`,
      );
    }
    return value;
  }

  private list(member: string, isRequired: boolean, rule: CollectionRule): unknown[] | undefined {
    const value = this.input[member];
    if (value == null) {
      if (isRequired) {
        this.missing(member);
      }
      return undefined;
    }
    if (!Array.isArray(value)) {
      throw typeMismatch(this.path(member), 'a list');
    }
    const items: unknown[] = value;
    this.checkCount(
      this.path(member),
      `[${items.map((item) => renderScalar(item)).join(', ')}]`,
      items.length,
      rule,
    );
    return items;
  }

  private checkCount(path: string, rendered: string, count: number, rule: CollectionRule): void {
    if (rule.minEntries !== undefined && count < rule.minEntries) {
      this.problems.push(
        `Value '${rendered}' at '${path}' failed to satisfy constraint: Member must have length greater than or equal to ${rule.minEntries}`,
      );
    }
    if (rule.maxEntries !== undefined && count > rule.maxEntries) {
      this.problems.push(
        `Value '${rendered}' at '${path}' failed to satisfy constraint: Member must have length less than or equal to ${rule.maxEntries}`,
      );
    }
  }

  private missing(member: string): void {
    this.problems.push(
      `Value null at '${this.path(member)}' failed to satisfy constraint: Member must not be null`,
    );
  }

  /** AWS names members in messages with a lowercased first letter (`streamName`, `aPIName`). */
  private path(member: string): string {
    return `${this.pathPrefix}${member.charAt(0).toLowerCase()}${member.slice(1)}`;
  }
}

/** Every constraint a string breaks, worded as AWS does. */
export const stringIssues = (value: string, rule: StringRule): string[] => {
  const issues: string[] = [];
  // Lengths count Unicode code points, as Java's model validation does for non-BMP text.
  const length = [...value].length;
  if (rule.maxLength !== undefined && length > rule.maxLength) {
    issues.push(`Member must have length less than or equal to ${rule.maxLength}`);
  }
  if (rule.minLength !== undefined && length < rule.minLength) {
    issues.push(`Member must have length greater than or equal to ${rule.minLength}`);
  }
  if (rule.pattern !== undefined && length > 0 && !rule.pattern.test(value)) {
    issues.push(`Member must satisfy regular expression pattern: ${rule.patternText ?? rule.pattern.source}`);
  }
  if (rule.values !== undefined && !rule.values.includes(value)) {
    issues.push(`Member must satisfy enum value set: [${rule.values.join(', ')}]`);
  }
  return issues;
};

const renderMap = (entries: readonly (readonly [string, unknown])[]): string =>
  `{${entries.map(([key, value]) => `${key}=${renderScalar(value)}`).join(', ')}}`;

const renderValue = (value: unknown): string => (value == null ? 'null' : `'${renderScalar(value)}'`);

/** A value as text for a message: scalars as themselves, anything else as JSON. */
const renderScalar = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : JSON.stringify(value);

const typeMismatch = (path: string, expected: string): KvsServiceError =>
  new KvsServiceError('SerializationException', `Unexpected value type at '${path}': expected ${expected}.`);
