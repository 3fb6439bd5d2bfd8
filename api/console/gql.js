// GraphQL for the console: queries and mutations over fetch (POST /graphql), and subscriptions over
// the `graphql-transport-ws` WebSocket protocol (connection_init / connection_ack / subscribe / next / error / complete, ping / pong).

const TOKEN_KEY = 'crisisgraph.operatorToken';

/** The operator token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A GraphQL error with the server's `extensions.code` (or NETWORK / HTTP_<status>). */
export class GraphQLError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Runs `query` and returns its `data`; throws a GraphQLError on any error. */
export async function gql(query, variables = {}, { auth = false } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json' };
  const bearer = token();
  if (auth && bearer) headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch (e) {
    throw new GraphQLError(`The server could not be reached (${e.message}).`, 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLError(`The server answered ${response.status} without GraphQL.`, `HTTP_${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new GraphQLError(first.message, (first.extensions && first.extensions.code) || 'GRAPHQL_ERROR');
  }
  return body.data;
}

let nextId = 1;

/**
 * Subscribes to `query` over `graphql-transport-ws` on /graphql. `onNext(data)` gets each event;
 * `onFail(reason)` is called once when the socket or the subscription fails (the caller then polls).
 * Returns a function that ends the subscription.
 */
export function subscribe(query, variables, onNext, onFail) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const id = String(nextId++);
  let socket;
  let failed = false;
  let ended = false;
  const fail = (reason) => {
    if (failed || ended) return;
    failed = true;
    try { socket.close(); } catch { /* already closed */ }
    onFail(reason);
  };
  try {
    socket = new WebSocket(url, 'graphql-transport-ws');
  } catch (e) {
    queueMicrotask(() => fail(e.message));
    return () => { ended = true; };
  }
  const send = (message) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(message));
  const ackTimer = setTimeout(() => fail('no connection_ack in 5 s'), 5000);
  socket.addEventListener('open', () => {
    const bearer = token();
    send({ type: 'connection_init', payload: bearer ? { Authorization: `Bearer ${bearer}` } : {} });
  });
  socket.addEventListener('message', (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return fail('a message that is not JSON'); }
    switch (message.type) {
      case 'connection_ack':
        clearTimeout(ackTimer);
        send({ id, type: 'subscribe', payload: { query, variables } });
        break;
      case 'ping':
        send({ type: 'pong' });
        break;
      case 'next':
        if (message.id !== id) break;
        if (message.payload.errors && message.payload.errors.length) fail(message.payload.errors[0].message);
        else onNext(message.payload.data);
        break;
      case 'error':
        fail((message.payload && message.payload[0] && message.payload[0].message) || 'subscription refused');
        break;
      case 'complete':
        if (!ended) fail('the server completed the subscription');
        break;
      default:
        break;
    }
  });
  socket.addEventListener('error', () => fail('the WebSocket failed'));
  socket.addEventListener('close', (event) => { clearTimeout(ackTimer); fail(`the WebSocket closed (${event.code})`); });
  return () => {
    ended = true;
    clearTimeout(ackTimer);
    send({ id, type: 'complete' });
    try { socket.close(1000); } catch { /* already closed */ }
  };
}
