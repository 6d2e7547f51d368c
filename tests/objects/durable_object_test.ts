// The optional base class: it keeps ctx and env and declares nothing else, so a Cloudflare
// class ports as it is. This file type-checks under noImplicitOverride (deno.json): the
// subclass below declares every handler without `override`.
import assert from "node:assert/strict";
import { DurableObject, type DurableObjectState, type WebSocket } from "../../mod.ts";

interface Env {
  readonly GREETING: string;
}

class Port extends DurableObject<Env> {
  fetch(_request: Request): Response {
    return new Response(this.env.GREETING);
  }
  webSocketMessage(_ws: WebSocket, _message: string | ArrayBuffer): void {}
  webSocketClose(_ws: WebSocket, _code: number, _reason: string, _wasClean: boolean): void {}
  webSocketError(_ws: WebSocket, _error: unknown): void {}
  alarm(): void {}
  state(): DurableObjectState {
    return this.ctx;
  }
}

Deno.test("DurableObject keeps the ctx and env it is built with, for subclasses to read", async () => {
  const ctx = {} as DurableObjectState;
  const env: Env = { GREETING: "hello" };
  const object = new Port(ctx, env);
  assert.equal(object.state(), ctx);
  assert.equal(await object.fetch(new Request("http://do/")).text(), "hello");
});

Deno.test("DurableObject declares no handler or other member on its prototype", () => {
  assert.deepEqual(Object.getOwnPropertyNames(DurableObject.prototype), ["constructor"]);
  assert.deepEqual(Object.getOwnPropertySymbols(DurableObject.prototype), []);
  const object = new DurableObject({} as DurableObjectState, {});
  assert.deepEqual(Object.keys(object).sort(), ["ctx", "env"]);
});
