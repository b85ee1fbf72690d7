// Same-origin JSON requests with the bearer token. Every failure becomes an ApiError: an HTTP error
// (its OperationOutcome read), an unreachable server (status 0) or an unreadable answer.

export class ApiError extends Error {
  /** issues: [{severity, code, diagnostics, expression: [...]}] from the OperationOutcome. */
  constructor(status, { code = 'unknown', expression = [], diagnostics = '', issues = [] } = {}) {
    super(diagnostics || `The server answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.expression = expression;
    this.diagnostics = this.message;
    this.issues = issues.length ? issues : [{ severity: 'error', code, diagnostics: this.message, expression }];
  }

  /** The request body field the first issue names (e.g. "decisions[0].reason_code"), or null. */
  get field() {
    return this.expression[0] ?? null;
  }

  /** 409 on the version: the case changed since it was read. */
  get stale() {
    return this.status === 409 && this.code === 'conflict' && this.field === 'version';
  }
}

const GENERIC = {
  0: 'The server could not be reached. Check the connection and try again.',
  401: 'Please sign in again.',
  403: 'You do not have permission to do this.',
  404: 'Not found.',
  409: 'This conflicts with the current state.',
  413: 'That is too large for the server.',
  422: 'The server refused these values.',
};

let tokenOf = () => null;
let onUnauthorized = () => {};

/** main.js wires the token source (auth.js) and what a 401 does (back to sign-in). */
export function configure({ token, unauthorized }) {
  tokenOf = token;
  onUnauthorized = unauthorized;
}

export function isAbort(error) {
  return error?.name === 'AbortError';
}

/**
 * request('/cases', {query: {status: 'received'}}) -> parsed JSON (null for an empty body).
 * body: sent as JSON. auth: false for the sign-in calls. signal: an AbortSignal (aborts reject with AbortError).
 */
export async function request(path, { method = 'GET', query, body, signal, auth = true } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { Accept: 'application/json, application/fhir+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = auth ? tokenOf() : null;
  if (token) headers.Authorization = `Bearer ${token}`;

  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, { code: 'network', diagnostics: GENERIC[0] });
  }

  let payload = null;
  let text = '';
  try {
    text = await response.text();
    payload = text ? JSON.parse(text) : null;
  } catch (error) {
    if (isAbort(error)) throw error;
    if (response.ok) throw new ApiError(response.status, { code: 'invalid-answer', diagnostics: 'The server sent an answer the console cannot read.' });
  }
  if (response.ok) return payload;

  const error = fromOutcome(response.status, payload);
  if (response.status === 401 && auth) onUnauthorized(error);
  throw error;
}

function fromOutcome(status, payload) {
  const issues = payload?.resourceType === 'OperationOutcome' && Array.isArray(payload.issue)
    ? payload.issue.map((issue) => ({
      severity: String(issue?.severity ?? 'error'),
      code: String(issue?.code ?? 'unknown'),
      diagnostics: String(issue?.diagnostics ?? issue?.details?.text ?? GENERIC[status] ?? `The server answered ${status}.`),
      expression: Array.isArray(issue?.expression) ? issue.expression.map(String) : [],
    }))
    : [];
  const first = issues[0];
  return new ApiError(status, {
    code: first?.code ?? 'unknown',
    expression: first?.expression ?? [],
    diagnostics: first?.diagnostics ?? GENERIC[status] ?? `The server answered ${status}.`,
    issues,
  });
}
