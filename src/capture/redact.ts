/**
 * Secret redaction for everything capture logs or throws. RTSP cameras take credentials in the URL
 * (`rtsp://user:pass@host/stream`), and ffmpeg echoes that URL verbatim in its errors
 * (`rtsp://user:pass@127.0.0.1:1/x: Connection refused`), so every log line, error message, error context
 * and stderr tail built from a URL or from ffmpeg's output passes through {@link redactText}.
 */

/** What a secret is replaced with. */
export const REDACTED = '***';

/** Query parameters some cameras use for credentials (`?user=admin&password=…`, `?token=…`). */
const SECRET_QUERY_KEY = /pass|pwd|secret|token|auth|key|sig|credential/i;

/** `scheme://userinfo@` anywhere in a text; userinfo stops at whitespace or a path/query/fragment start. */
const USERINFO_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@'"]*(?:@[^\s/?#@'"]*)*)@/gi;

type UrlParts = {
  /** `rtsp://` */
  schemePrefix: string;
  user: string;
  /** The raw password as written in the URL (may be percent-encoded), when the URL has one. */
  password: string | undefined;
  /** Everything after the `@` (or after `://` when there is no userinfo). */
  rest: string;
};

/**
 * Splits a URL the way ffmpeg's `av_url_split` does: the authority runs up to the first `/`, `?` or `#`,
 * and the userinfo up to the last `@` inside it (so an unencoded `@` in a password still counts as part of
 * the password), the user up to the first `:`.
 */
const splitUrl = (url: string): UrlParts | undefined => {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (scheme === null) {
    return undefined;
  }
  const schemePrefix = scheme[0];
  const afterScheme = url.slice(schemePrefix.length);
  const authorityEnd = afterScheme.search(/[/?#]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at === -1) {
    return { schemePrefix, user: '', password: undefined, rest: afterScheme };
  }
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  return {
    schemePrefix,
    user: colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: colon === -1 ? undefined : userinfo.slice(colon + 1),
    rest: afterScheme.slice(at + 1),
  };
};

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Redacts the values of credential-like query parameters (`password=…`, `token=…`). */
const redactQuery = (rest: string): string => {
  const queryStart = rest.indexOf('?');
  if (queryStart === -1) {
    return rest;
  }
  const hashStart = rest.indexOf('#', queryStart);
  const query = rest.slice(queryStart + 1, hashStart === -1 ? undefined : hashStart);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq !== -1 && SECRET_QUERY_KEY.test(pair.slice(0, eq))
        ? `${pair.slice(0, eq + 1)}${REDACTED}`
        : pair;
    })
    .join('&');
  return `${rest.slice(0, queryStart + 1)}${redacted}${hashStart === -1 ? '' : rest.slice(hashStart)}`;
};

/**
 * The URL with its password (and credential-like query values) replaced by `***`. The user name is kept:
 * it tells which account a camera was opened with, and is not a secret on its own.
 * `rtsp://admin:s3cret@cam.local/live` → `rtsp://admin:***@cam.local/live`.
 */
export const redactUrl = (url: string): string => {
  const parts = splitUrl(url);
  if (parts === undefined) {
    return url;
  }
  const userinfo =
    parts.password === undefined ? (parts.user === '' ? '' : `${parts.user}@`) : `${parts.user}:${REDACTED}@`;
  return `${parts.schemePrefix}${userinfo}${redactQuery(parts.rest)}`;
};

/**
 * The secrets a URL carries, in every spelling ffmpeg may print them: the raw password, its
 * percent-decoded form, `user:password` in base64 (HTTP Basic / RTSP Basic auth, printed by ffmpeg at debug
 * levels), and credential-like query values. Pass them to {@link redactText}.
 */
export const urlSecrets = (url: string): string[] => {
  const parts = splitUrl(url);
  if (parts === undefined) {
    return [];
  }
  const secrets = new Set<string>();
  if (parts.password !== undefined && parts.password !== '') {
    const decoded = safeDecode(parts.password);
    secrets.add(parts.password);
    secrets.add(decoded);
    secrets.add(Buffer.from(`${safeDecode(parts.user)}:${decoded}`, 'utf8').toString('base64'));
  }
  const query = /\?([^#]*)/.exec(parts.rest)?.[1];
  for (const pair of query?.split('&') ?? []) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && SECRET_QUERY_KEY.test(pair.slice(0, eq)) && eq < pair.length - 1) {
      secrets.add(pair.slice(eq + 1));
      secrets.add(safeDecode(pair.slice(eq + 1)));
    }
  }
  return [...secrets];
};

/**
 * Replaces every occurrence of each secret in `text` with `***`, then redacts any `scheme://user:pass@`
 * userinfo left (defence in depth: a URL ffmpeg rewrote, or one nobody registered as a secret).
 */
export const redactText = (text: string, secrets: readonly string[] = []): string => {
  let result = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join(REDACTED);
  }
  return result.replace(USERINFO_IN_TEXT, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon === -1 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
  });
};

/** An argv with every element redacted (for log lines and error context). */
export const redactArgs = (argv: readonly string[], secrets: readonly string[] = []): string[] =>
  argv.map((arg) => redactText(arg, secrets));

/** A redacted argv as one copy-pasteable shell line (arguments quoted only when needed). */
export const formatCommandLine = (
  command: string,
  argv: readonly string[],
  secrets: readonly string[] = [],
): string =>
  [command, ...argv]
    .map((arg) => redactText(arg, secrets))
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`))
    .join(' ');
