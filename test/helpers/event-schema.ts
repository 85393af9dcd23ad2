/**
 * Checks `--json` records against docs/events.schema.json. A small validator for the part of JSON Schema
 * (draft-07) that file uses — type, const, enum, properties, required, additionalProperties, items,
 * minimum, pattern, oneOf and local $refs — rather than a dependency: ajv is only here transitively (v6,
 * through eslint), and the schema is ours, so the subset is what we keep it to.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export type JsonSchema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  const?: unknown;
  enum?: readonly unknown[];
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minimum?: number;
  pattern?: string;
  oneOf?: readonly JsonSchema[];
  $ref?: string;
  definitions?: Record<string, JsonSchema>;
  description?: string;
  title?: string;
  $schema?: string;
};

/** The keywords this validator understands: a schema using another one fails its unit test. */
export const SUPPORTED_KEYWORDS: ReadonlySet<string> = new Set([
  'type',
  'const',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minimum',
  'pattern',
  'oneOf',
  '$ref',
  'definitions',
  'description',
  'title',
  '$schema',
]);

export const EVENT_SCHEMA = JSON.parse(
  readFileSync(join(REPO_ROOT, 'docs', 'events.schema.json'), 'utf8'),
) as JsonSchema;

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

const matchesType = (value: unknown, type: NonNullable<JsonSchema['type']>): boolean =>
  type === 'integer'
    ? Number.isInteger(value)
    : type === 'number'
      ? typeof value === 'number' && Number.isFinite(value)
      : typeOf(value) === type;

/** Every way `value` breaks `schema`, as `path: problem` lines (empty when it conforms). */
export const schemaErrors = (
  value: unknown,
  schema: JsonSchema,
  root: JsonSchema = EVENT_SCHEMA,
  path = '$',
): string[] => {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/definitions\//, '');
    const target = root.definitions?.[name];
    return target === undefined
      ? [`${path}: unknown $ref ${schema.$ref}`]
      : schemaErrors(value, target, root, path);
  }
  const errors: string[] = [];
  if (schema.type !== undefined && !matchesType(value, schema.type)) {
    return [`${path}: ${JSON.stringify(value)} is not of type ${schema.type}`];
  }
  if ('const' in schema && value !== schema.const) {
    errors.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum) {
    errors.push(`${path}: ${value} is below ${schema.minimum}`);
  }
  if (schema.pattern !== undefined && typeof value === 'string' && !new RegExp(schema.pattern).test(value)) {
    errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (schema.items !== undefined && Array.isArray(value)) {
    value.forEach((item, index) =>
      errors.push(...schemaErrors(item, schema.items!, root, `${path}[${index}]`)),
    );
  }
  if (typeOf(value) === 'object') {
    const record = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      if (!(name in record)) {
        errors.push(`${path}: missing ${name}`);
      }
    }
    for (const [name, field] of Object.entries(record)) {
      const known = schema.properties?.[name];
      if (known !== undefined) {
        errors.push(...schemaErrors(field, known, root, `${path}.${name}`));
      } else if (schema.additionalProperties === false) {
        errors.push(`${path}: unexpected field ${name}`);
      } else if (typeof schema.additionalProperties === 'object') {
        errors.push(...schemaErrors(field, schema.additionalProperties, root, `${path}.${name}`));
      }
    }
  }
  if (schema.oneOf !== undefined) {
    const matching = schema.oneOf.filter((option) => schemaErrors(value, option, root, path).length === 0);
    if (matching.length !== 1) {
      errors.push(`${path}: matches ${matching.length} of the oneOf schemas, not 1`);
    }
  }
  return errors;
};

/**
 * Throws unless `record` is a valid `--json` record. The schema's definition named by the record's `event`
 * is checked first, for a message that says which field is wrong; then the whole schema.
 */
export const expectEventRecord = (record: unknown): void => {
  const event = (record as { event?: unknown } | null)?.event;
  const definition = typeof event === 'string' ? EVENT_SCHEMA.definitions?.[event] : undefined;
  const errors =
    definition === undefined
      ? [`$: no schema for event ${JSON.stringify(event)}`]
      : [...schemaErrors(record, definition), ...schemaErrors(record, EVENT_SCHEMA)];
  if (errors.length > 0) {
    throw new Error(
      `--json record breaks docs/events.schema.json:\n  ${[...new Set(errors)].join('\n  ')}\n  record: ${JSON.stringify(record)}`,
    );
  }
};
