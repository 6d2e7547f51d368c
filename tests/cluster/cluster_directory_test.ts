// The ObjectDirectory conformance suite against a ClusterDirectory whose objects all live on
// another node: node "b" locates, connects and calls; node "a" owns and runs every object.
import { directoryOf } from "../../src/objects/namespace.ts";
import { hibernateNow } from "../../src/testing/mod.ts";
import { objectDirectoryConformance } from "../objects/_object_directory_conformance.ts";
import { startCluster } from "./_cluster.ts";

objectDirectoryConformance("cluster directory, objects on another node", async (objects, env) => {
  const cluster = await startCluster(objects, { env });
  const [owner, holder] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const binding = Object.keys(objects)[0]!;
  return {
    directory: directoryOf(holder.namespace(binding)),
    idFromName: (b, name) => holder.namespace(b).idFromName(name),
    connect: (b, name) => holder.connect(`/${b}/${name}`),
    hibernate: (b, id) => hibernateNow(owner.app, b, id),
    [Symbol.asyncDispose]: () => cluster[Symbol.asyncDispose](),
  };
});
