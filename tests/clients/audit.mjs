// The GraphQL-over-HTTP audit suite (graphql-http's `auditServer`) against a running crisisgraph.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Prints every audit that did not pass with its reason, then the counts per requirement level.
// Exits non-zero unless every audit passes (MUST, SHOULD and MAY).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const results = await auditServer({ url });
const levels = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
for (const result of results) {
  const level = result.name.split(' ')[0];
  levels[level][1] += 1;
  if (result.status === 'ok') {
    levels[level][0] += 1;
  } else {
    console.log(`FAIL ${result.id} ${result.name}\n     ${result.reason}`);
  }
}
const passed = results.filter((r) => r.status === 'ok').length;
const summary = Object.entries(levels).map(([level, [ok, all]]) => `${level} ${ok}/${all}`).join(', ');
console.log(`graphql-http audit: ${passed}/${results.length} passed (${summary})`);
process.exit(passed === results.length ? 0 : 1);
