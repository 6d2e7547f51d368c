/**
 * A resumable chat room served as a real process for the crash and deploy
 * tests: `KV_PATH` (required), `PORT` (0 for any). Every message is sent to
 * every socket of the room. Prints the app's `Listening on …` line.
 *
 * @module
 */
import {
  App,
  durableObject,
  type DurableObjectState,
  onMessage,
  type WebSocket,
} from "../../mod.ts";

@durableObject({ name: "sroom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

const app = new App({
  objects: { ROOM: Room },
  routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
  kvPath: Deno.env.get("KV_PATH")!,
});
await app.serve({ hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 0) });
