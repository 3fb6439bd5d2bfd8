// Subscriptions with a client nobody on the project wrote: graphql-ws (the graphql-transport-ws
// protocol), over the `ws` WebSocket implementation (Node 20 has no global WebSocket).
//
//   node subscriptions.mjs events <ws-url> <source> <data-events-expected>
//     Subscribes to ingestRunUpdated(source) and dataChanged(source) on one connection, prints
//     {"kind":"ready"} once both are sent, then one JSON line per event ({"kind":"run",...} or
//     {"kind":"data",...}) and exits 0 once a run of the source has ended and that many dataChanged
//     events arrived (waiting a second more for any late duplicate). Exits 2 after 120 s without.
//   node subscriptions.mjs cap <ws-url> <subscriptions>
//     Opens that many ingestRunUpdated subscriptions on one connection and prints
//     {"kind":"cap","errors":[...codes]} with the error code of each refused one.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [mode, url, ...rest] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const RUN = 'number source status phase dryRun progress { stepsDone stepsTotal rowsSoFar } fetched inserted updated unchanged rejected';

let connected;
const ready = new Promise((resolve) => { connected = resolve; });
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  on: { connected: () => connected() },
});
setTimeout(() => { print({ kind: 'timeout' }); process.exit(2); }, 120_000).unref();

if (mode === 'events') {
  const [source, expected] = [rest[0], Number(rest[1])];
  let ended = false;
  let data = 0;
  const maybeDone = () => {
    if (ended && data >= expected) {
      setTimeout(() => { client.dispose(); process.exit(0); }, 1000);
    }
  };
  const fail = (what) => (error) => { print({ kind: 'error', what, error: String(JSON.stringify(error)) }); process.exit(1); };
  client.subscribe(
    { query: `subscription($s: String) { ingestRunUpdated(source: $s) { ${RUN} } }`, variables: { s: source } },
    {
      next: (message) => {
        if (message.errors) fail('ingestRunUpdated')(message.errors);
        const run = message.data.ingestRunUpdated;
        print({ kind: 'run', ...run });
        if (run.status !== 'running') { ended = true; maybeDone(); }
      },
      error: fail('ingestRunUpdated'),
      complete: () => {},
    },
  );
  client.subscribe(
    {
      query: `subscription($s: String) { dataChanged(source: $s) { source country inserted updated rejected run { ${RUN} } } }`,
      variables: { s: source },
    },
    {
      next: (message) => {
        if (message.errors) fail('dataChanged')(message.errors);
        print({ kind: 'data', ...message.data.dataChanged });
        data += 1;
        maybeDone();
      },
      error: fail('dataChanged'),
      complete: () => {},
    },
  );
  await ready;
  // The subscribe messages are on the wire once connected; give the server a moment to start them.
  setTimeout(() => print({ kind: 'ready' }), 1000);
} else if (mode === 'cap') {
  const count = Number(rest[0]);
  await ready;
  const errors = [];
  let settled = 0;
  for (let i = 0; i < count; i += 1) {
    client.subscribe(
      { query: 'subscription { ingestRunUpdated { number } }' },
      {
        next: (message) => {
          if (message.errors) errors.push(message.errors[0]?.extensions?.code ?? 'NO_CODE');
        },
        error: (error) => {
          const first = Array.isArray(error) ? error[0] : error;
          errors.push(first?.extensions?.code ?? 'NO_CODE');
        },
        complete: () => {},
      },
    );
    settled += 1;
  }
  // Refusals come back at once; wait a moment for them, then report.
  setTimeout(() => { print({ kind: 'cap', opened: settled, errors }); client.dispose(); process.exit(0); }, 2000);
} else {
  console.error('usage: subscriptions.mjs events|cap <ws-url> ...');
  process.exit(64);
}
