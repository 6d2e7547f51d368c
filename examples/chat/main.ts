/**
 * The chat server.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write examples/chat/main.ts
 *
 * The environment it reads is listed in `from_env.ts`. Several processes on
 * one DORMANT_KV_PATH with one DORMANT_REDIS_URL form one cluster; `serve.ts`
 * is the same chat for `deno serve --parallel` (`deno task start:parallel`).
 */
import { app, hostname, port } from "./from_env.ts";

// Prints where to open the chat: `Listening on http://localhost:8000/`.
await app.serve({ hostname, port });
