/**
 * The chat as a `deno serve` module:
 *
 *   deno serve --parallel --allow-net --allow-env --allow-read --allow-write examples/chat/serve.ts
 *
 * Every worker is a node of one cluster (they reach each other over
 * BroadcastChannel): a room lives on one worker, sockets that landed on the
 * others are bridged to it. `deno task start:parallel` runs this on $PORT.
 * The environment it reads is listed in `from_env.ts` (PORT and
 * DORMANT_HOSTNAME excepted: `deno serve` takes `--port`/`--host`).
 */
import { fetch } from "./from_env.ts";

export default { fetch } satisfies Deno.ServeDefaultExport;
