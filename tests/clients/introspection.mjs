// graphql-js against a running crisisgraph: the standard introspection query (as GraphiQL, codegen and
// Postman send it) over HTTP must be answered, give a schema `buildClientSchema` accepts, and print
// equal to the committed `schema.graphql`.
// Usage: node introspection.mjs http://127.0.0.1:PORT/graphql path/to/schema.graphql
import { readFileSync } from 'node:fs';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const [url, committedPath] = process.argv.slice(2);
if (!url || !committedPath) {
  console.error('usage: node introspection.mjs <graphql url> <schema.graphql>');
  process.exit(2);
}

// Plain (graphql-js's defaults, what codegen sends) and everything GraphiQL asks for.
const variants = {
  default: getIntrospectionQuery(),
  graphiql: getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  }),
};
const committed = printSchema(lexicographicSortSchema(buildSchema(readFileSync(committedPath, 'utf8'))));
let failed = false;
for (const [name, query] of Object.entries(variants)) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, operationName: 'IntrospectionQuery' }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) {
    console.log(`FAIL ${name} introspection: HTTP ${response.status} ${JSON.stringify(body.errors)}`);
    failed = true;
    continue;
  }
  // async-graphql answers `__Schema.description` with a fixed generic text of its own (the committed
  // SDL has no schema description): leave it out of the comparison.
  if (body.data.__schema.description !== undefined) {
    body.data.__schema.description = null;
  }
  const printed = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
  if (printed !== committed) {
    const a = printed.split('\n');
    const b = committed.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    console.log(`FAIL ${name} introspection: the schema differs from schema.graphql at line ${line + 1}:`);
    console.log(`  introspected: ${a[line]}\n  committed:    ${b[line]}`);
    failed = true;
    continue;
  }
  console.log(`introspection (${name}): buildClientSchema accepts it and it prints equal to schema.graphql`);
}
process.exit(failed ? 1 : 0);
