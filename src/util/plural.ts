/**
 * `1 fragment`, `2 fragments`, `1 retry`, `3 retries`: a count with its noun in the number that agrees.
 * `many` is the plural when adding an `s` does not make it.
 */
export const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`;
