// The socket registry: the conformance cases against MemorySocketRegistry,
// and getWebSockets() end to end in both object modes (hibernating, and
// `@durableObject({ hibernate: false })`), which must give identical lists.

import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { MemorySocketRegistry } from "../../src/sockets/socket_registry.ts";
import { hibernateNow, objectStatus, type TestClient } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { socketRegistryConformance } from "./_socket_registry_conformance.ts";

socketRegistryConformance("MemorySocketRegistry", () => new MemorySocketRegistry<string>());

interface Lists {
  all: string[];
  x: string[];
  y: string[];
  /** Whether repeated calls returned the identical frozen array. */
  cached: boolean;
}

/** Accepts with the tags in `?tags=a,b` (the first one names the socket); answers "list" and "close". */
function roomClass(hibernate: boolean) {
  const counts = { constructed: 0 };
  class Base extends DurableObject {
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      counts.constructed++;
    }
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1], new URL(request.url).searchParams.get("tags")!.split(","));
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      if (message === "close") return ws.close(4000, "server");
      const names = (list: readonly WebSocket[]) => list.map((s) => this.ctx.getTags(s)[0]!);
      const all = this.ctx.getWebSockets();
      const x = this.ctx.getWebSockets("x");
      const lists: Lists = {
        all: names(all),
        x: names(x),
        y: names(this.ctx.getWebSockets("y")),
        cached: all === this.ctx.getWebSockets() && x === this.ctx.getWebSockets("x") &&
          Object.isFrozen(all),
      };
      ws.send(JSON.stringify(lists));
    }
  }
  if (hibernate) {
    @durableObject({ name: "room" })
    class Room extends Base {}
    return { Room, counts };
  }
  @durableObject({ name: "room", hibernate: false })
  class Room extends Base {}
  return { Room, counts };
}

function list(client: TestClient): Promise<Lists> {
  client.socket.send("list");
  return client.nextJson<Lists>();
}

const START: Lists = {
  all: ["A", "B", "C", "D", "E"],
  x: ["A", "C", "E"],
  y: ["B", "C"],
  cached: true,
};
const AFTER_CLOSES: Lists = { all: ["A", "D", "E"], x: ["A", "E"], y: [], cached: true };
const AFTER_JOIN: Lists = { all: ["A", "D", "E", "F"], x: ["A", "E", "F"], y: ["F"], cached: true };

/** The same scenario in either mode; `hibernateNow` between steps where the mode allows it. */
async function scenario(hibernate: boolean): Promise<Lists[]> {
  const { Room, counts } = roomClass(hibernate);
  await using s = await serveApp({
    objects: { ROOM: Room },
    routes: [{ pattern: "/room/:name", object: "ROOM" }],
  });
  const id = s.app.env.ROOM.idFromName("r");
  const sleep = async () => {
    if (hibernate) {
      await hibernateNow(s.app, "ROOM", id);
      assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
    } else {
      await assert.rejects(hibernateNow(s.app, "ROOM", id), /hibernation disabled/);
      await s.clock.advance(60_000);
      assert.equal(objectStatus(s.app, "ROOM", id), "active");
    }
  };
  const a = await s.connect("/room/r?tags=A,x");
  const b = await s.connect("/room/r?tags=B,y");
  const c = await s.connect("/room/r?tags=C,x,y");
  await s.connect("/room/r?tags=D");
  await s.connect("/room/r?tags=E,x");
  const seen = [await list(a)];
  await sleep();
  seen.push(await list(a));
  c.socket.send("close"); // the server closes C
  assert.equal((await c.closed).code, 4000);
  await b.close(1000); // B's client closes
  await until(() => s.app.stats().connections === 3, "B and C to be gone");
  seen.push(await list(a));
  await sleep();
  seen.push(await list(a));
  const f = await s.connect("/room/r?tags=F,x,y");
  seen.push(await list(f));
  await sleep();
  seen.push(await list(a));
  assert.equal(counts.constructed, hibernate ? 4 : 1);
  assert.deepEqual(s.exceptions, []);
  return seen;
}

const EXPECTED = [START, START, AFTER_CLOSES, AFTER_CLOSES, AFTER_JOIN, AFTER_JOIN];

Deno.test("getWebSockets lists open sockets oldest first in a hibernating object, also after hibernateNow", async () => {
  assert.deepEqual(await scenario(true), EXPECTED);
});

Deno.test("getWebSockets gives the identical lists in an object with hibernate: false", async () => {
  assert.deepEqual(await scenario(false), EXPECTED);
});
