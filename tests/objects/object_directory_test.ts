// The in-process ObjectDirectory (the one every app uses today) against the seam's conformance
// suite, with a real server, real WebSocket clients and Deno KV in memory.
import type { DurableObjectNamespace } from "../../mod.ts";
import { directoryOf } from "../../src/objects/namespace.ts";
import { hibernateNow } from "../../src/testing/mod.ts";
import { serveApp } from "../_helpers.ts";
import { objectDirectoryConformance } from "./_object_directory_conformance.ts";

objectDirectoryConformance("in-process directory", async (objects, env) => {
  const s = await serveApp({
    objects,
    env,
    routes: Object.keys(objects).map((binding) => ({
      pattern: `/${binding}/:name`,
      object: binding,
    })),
  });
  const namespace = (binding: string) =>
    (s.app.env as Record<string, DurableObjectNamespace<unknown>>)[binding]!;
  return {
    directory: directoryOf(namespace(Object.keys(objects)[0]!)),
    idFromName: (binding, name) => namespace(binding).idFromName(name),
    connect: (binding, name) => s.connect(`/${binding}/${name}`),
    hibernate: (binding, id) => hibernateNow(s.app, binding, id),
    [Symbol.asyncDispose]: () => s[Symbol.asyncDispose](),
  };
});
