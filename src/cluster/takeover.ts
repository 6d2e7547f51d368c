/**
 * Taking over a socket whose owner died: the holder asks the object's new
 * owner to resume it. The new owner rebuilds its side of the socket from
 * the socket's record in KV (tags, attachment, accept time, last
 * auto-response), keeps that record, and delivers the frames the dead
 * owner never acknowledged (at least once: one it processed but had not
 * acked yet arrives again). A socket without a record (its owner died before
 * writing it) cannot be rebuilt: the holder closes it with 1012.
 *
 * @module
 */

import type { ObjectHost } from "../objects/object_host.ts";
import { readObjectRecords } from "../hibernation/socket_records.ts";
import { Connection } from "../sockets/connection.ts";
import {
  AUTO_RESPONSE_AT,
  LOAD_ATTACHMENT,
  UNLOAD_ATTACHMENT,
} from "../sockets/connection_internals.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import type { Resumable } from "./held_sockets.ts";
import type { SocketBridge } from "./socket_bridge.ts";
import { OK, OP_FRAME } from "./wire.ts";

/** What a resume request carries (see `Resumable`). */
export interface ResumeBody {
  readonly sid: string;
  readonly boot: string;
  readonly u: string;
  readonly p: string;
  readonly f: ReadonlyArray<readonly [number, string | ArrayBuffer]>;
}

/** The new owner's answer: resumed (with the object's auto-response), or gone. */
export type ResumeAnswer =
  | { readonly a: "resumed"; readonly ar: [string, string] | null }
  | { readonly a: "gone" };

/**
 * Rebuilds on `host` the socket `body.sid` that node `from` holds, from its
 * record under the holder's `boot`, and delivers the unacknowledged frames.
 */
export async function serveResume(
  kv: Deno.Kv,
  bridge: SocketBridge,
  host: ObjectHost,
  from: string,
  body: ResumeBody,
  maxSockets: number,
): Promise<ResumeAnswer> {
  const records = await readObjectRecords(kv, host.keyBase);
  const prefix = `${body.sid}.`;
  let record = null;
  for (const r of records.sockets.values()) {
    if (r.boot === body.boot && r.sid.startsWith(prefix)) record = r;
  }
  if (record === null) return { a: "gone" };
  // A host new on this node learns its settings (the auto-response) from the same read.
  if (records.settings !== null && host.sockets.live === 0 && host.status === "hibernated") {
    host.restoreSettings(records.settings);
  }
  const ws = new Connection();
  host.sockets.accept(host, ws, record.tags, maxSockets, record.acceptedAt);
  ws[UNLOAD_ATTACHMENT]();
  ws[LOAD_ATTACHMENT](record.attachment);
  ws[AUTO_RESPONSE_AT] = record.autoResponseAt;
  bridge.bindRemote(ws, from, body.sid, body.boot, {
    storage: host.runtime.storageName,
    hex: host.hex,
    url: body.u,
    protocol: body.p,
    recordSid: record.sid,
  });
  bridge.receive(
    from,
    body.f.map(([seq, payload]) => ({ op: OP_FRAME, sid: body.sid, seq, payload })),
  );
  const auto = host.settings.autoResponse;
  return { a: "resumed", ar: auto === null ? null : [auto.request, auto.response] };
}

/** What the holder needs to move a socket: the placement, a request, its boot, a pause. */
export interface ResumeParts {
  readonly placement: {
    locate(
      storageName: string,
      id: string,
    ): Promise<{ local: true } | { local: false; node: string }>;
    invalidate(storageName: string, id: string): void;
  };
  request(node: string, body: unknown): Promise<{ status: number; body: unknown }>;
  readonly boot: string;
  /** Waits a little before asking again (the dead owner's lease has not lapsed yet). */
  pause(): Promise<void>;
}

/**
 * The holder's side: finds the object's new owner (asking again while the
 * placement still names the dead one, up to 5 times) and resumes the socket
 * there. `null` when it cannot: the object now lives on this node (the
 * client reconnects here), or the new owner has no record of the socket.
 */
export async function resumeOn(
  parts: ResumeParts,
  socket: Resumable,
): Promise<{ node: string; auto: AutoResponse | null } | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    parts.placement.invalidate(socket.storage, socket.hex);
    const where = await parts.placement.locate(socket.storage, socket.hex);
    if (where.local) return null;
    if (where.node === socket.from) {
      await parts.pause();
      continue;
    }
    const reply = await parts.request(where.node, {
      k: "resume",
      s: socket.storage,
      i: socket.hex,
      n: socket.name,
      sid: socket.sid,
      boot: parts.boot,
      u: socket.url,
      p: socket.protocol,
      f: socket.frames,
    });
    const answer = reply.body as ResumeAnswer;
    if (reply.status !== OK || answer.a !== "resumed") return null;
    const auto = answer.ar === null
      ? null
      : Object.freeze({ request: answer.ar[0], response: answer.ar[1] });
    return { node: where.node, auto };
  }
  return null;
}
