// PostGraphile 5 as crisisgraph-bench's second peer (see docs/benchmarks.md): the amber preset (no
// simplify-inflection, so the names are PostGraphile 4's), the connection-filter plugin on every column
// (PgIndexBehaviorsPlugin off: by default V5 filters and orders only on indexed columns, and the peer's
// views have no indexes), no mutations, no GraphiQL, no query log. The bench sets DATABASE_URL, PORT and
// NODE_ENV=production.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  disablePlugins: [
    "PgIndexBehaviorsPlugin",
    "PgMutationCreatePlugin",
    "PgMutationUpdateDeletePlugin",
    "PgMutationPayloadEdgePlugin",
  ],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: [process.env.PEER_SCHEMA ?? "crisisgraph_peer"],
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 5678),
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};

export default preset;
