/**
 * `deno task start:parallel`: serves the chat with `deno serve --parallel`
 * (workers from DENO_JOBS, default one per core) on PORT (default 8000) and
 * DORMANT_HOSTNAME (default 0.0.0.0). Every worker is a node of one cluster:
 * a room lives on one worker and sockets that landed on the others reach it
 * over BroadcastChannel. The other variables are listed in `from_env.ts`.
 */
const hostname = Deno.env.get("DORMANT_HOSTNAME") || "0.0.0.0";
const port = Deno.env.get("PORT") || "8000";
const serve = new URL("./serve.ts", import.meta.url).pathname;

// npm (`npx deno …`) exports NODE=/path/to/node; with it set, the isolates of Deno 2.9.6's
// `deno serve --parallel` never receive each other's BroadcastChannel messages (measured), and the
// isolates of a cluster reach each other on BroadcastChannel.
const env = Deno.env.toObject();
delete env.NODE;
// `deno serve` listens where DENO_SERVE_ADDRESS says (it wins over `--port`).
env.DENO_SERVE_ADDRESS = `tcp:${hostname}:${port}`;

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "serve",
    "--parallel",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    serve,
  ],
  clearEnv: true,
  env,
  stdin: "null",
}).spawn();
// Hand a stop on to the server (Deno Deploy and process managers send SIGTERM).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => child.kill(signal));
}
Deno.exit((await child.status).code);
