/**
 * Raw Deno as a `deno serve` module, for `deno serve --parallel`: the same
 * routes as the bench harness's raw server (`/echo`, `/bcast`, `/idle`), each
 * isolate with its own rooms. It is the ceiling Dormant's `--parallel` runs
 * are compared with; a room split over isolates broadcasts within each
 * isolate only, which Dormant does not do (it bridges to the room's owner).
 *
 *   BENCH_PORT=9000 deno serve --parallel -A --port 9000 bench/raw_serve.ts
 *
 * @module
 */

const rooms = new Map<string, Set<WebSocket>>();

console.log(`raw listening ${Deno.env.get("BENCH_PORT") ?? "?"} pid ${Deno.pid}`);

export default {
  fetch(request: Request): Response {
    const [, mode, room = "default"] = new URL(request.url).pathname.split("/");
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response("expected websocket", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    let members = rooms.get(room);
    if (!members) rooms.set(room, members = new Set());
    const set = members;
    socket.onopen = () => set.add(socket);
    socket.onclose = () => {
      set.delete(socket);
      if (set.size === 0 && rooms.get(room) === set) rooms.delete(room);
    };
    socket.onerror = () => {};
    socket.onmessage = mode === "bcast"
      ? (event) => {
        for (const ws of set) if (ws.readyState === 1) ws.send(event.data);
      }
      : (event) => socket.send(event.data);
    return response;
  },
} satisfies Deno.ServeDefaultExport;
