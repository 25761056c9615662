// GraphQL over HTTP — the one function every view calls — and the token of this browser tab.
//
// The dashboard speaks only the public API (SPEC §8): POST /graphql with a bearer token, and
// the graphql-ws subscription of live.js. Ids are opaque strings: never parsed, never built.

const TOKEN_KEY = 'packer-gateway.token';

/** The token of this tab, kept in sessionStorage: it lives until sign-out or the tab closes. */
export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  remember: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** A GraphQL response with `errors`, or no usable response at all. */
export class ApiError extends Error {
  constructor(errors, { status = 0, data = null } = {}) {
    super(errors.map((error) => error.message).join('\n'));
    this.name = 'ApiError';
    this.errors = errors;
    this.status = status;
    this.data = data;
  }

  /** The `extensions.code` of the first error. */
  get code() {
    return this.errors[0]?.extensions?.code ?? 'UNKNOWN';
  }

  /** The `extensions.fields` of every error, merged: `{ fieldName: [message, …] }`. */
  get fields() {
    const fields = {};
    for (const error of this.errors) {
      for (const [name, messages] of Object.entries(error.extensions?.fields ?? {})) {
        fields[name] = [...(fields[name] ?? []), ...[].concat(messages)];
      }
    }
    return fields;
  }

  /** The document asks for something this server does not have (an older version). */
  get unsupported() {
    return this.code === 'GRAPHQL_VALIDATION_FAILED';
  }
}

/** Errors that are not the caller's: the service could not be reached or answered nonsense. */
function transportError(message, status) {
  return new ApiError([{ message, extensions: { code: 'NETWORK_ERROR' } }], { status });
}

let unauthenticated = () => {};

/** `handler` runs when the service says the token is no longer valid (then the error throws). */
export function onUnauthenticated(handler) {
  unauthenticated = handler;
}

/** The GraphQL endpoint, relative to the page (so a reverse proxy may mount us under a prefix). */
export function endpoint() {
  return new URL('graphql', document.baseURI);
}

/**
 * Runs one query or mutation; resolves to its `data`, rejects with an ApiError when the
 * response carries any error (partial data, if any, is on the error).
 */
export async function graphql(query, variables = {}, token = session.token()) {
  let response;
  try {
    response = await fetch(endpoint(), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json;q=0.9',
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw transportError('The service cannot be reached. Check the connection and try again.');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw transportError(`The service answered HTTP ${response.status} without a GraphQL body.`, response.status);
  }
  if (body.errors?.length) {
    const error = new ApiError(body.errors, { status: response.status, data: body.data ?? null });
    if (error.code === 'UNAUTHENTICATED') unauthenticated(error);
    throw error;
  }
  return body.data;
}

/** A fresh idempotency key (crypto.randomUUID needs a secure context; this does not). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'dashboard-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
