/** Programmer-error invariant: never caught, never retried. */
export const assert: (condition: unknown, message?: string) => asserts condition = (condition, message) => {
  if (!condition) {
    throw new Error(`Assertion failed${message === undefined ? '' : `: ${message}`}`);
  }
};

export const assertNever = (value: never): never => {
  throw new Error(`Unexpected value: ${String(value)}`);
};
