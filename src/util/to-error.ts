/** Anything thrown, as an Error (JavaScript lets code throw any value). */
export const toError = (value: unknown): Error =>
  value instanceof Error ? value : new Error(typeof value === 'string' ? value : JSON.stringify(value));
