import type { AutoResponse } from "./auto_response.ts";
import type { ServerSocket } from "./server_socket.ts";

/** What a connection needs from the object that accepted it. */
export interface ConnectionOwner {
  /** The current auto-response, checked before any dispatch. */
  readonly autoResponse: AutoResponse | null;
  /** Received messages above this size are refused with 1009. */
  readonly maxMessageBytes: number;
  /** Attachment size limit. */
  readonly maxAttachmentBytes: number;
  /** Queued outgoing bytes above which `send()` applies backpressure. */
  readonly maxBufferedBytes: number;
  /** Close the socket with 1013 (`"close"`) or drop the message (`"drop"`) over that cap. */
  readonly backpressure: "close" | "drop";
  /** A pending storage write that outgoing messages must wait for (output gate), or `null`. */
  readonly outputGate: Promise<unknown> | null;
  /** The clock's time. */
  now(): number;
  /** A data message to deliver. */
  onMessage(ws: ServerSocket, message: string | ArrayBuffer): void;
  /** The socket closed; deliver `webSocketClose` (already mapped). */
  onClose(ws: ServerSocket, code: number, reason: string, wasClean: boolean): void;
  /** A protocol error; deliver `webSocketError`, never followed by a close event. */
  onError(ws: ServerSocket, error: Error): void;
  /** The socket stopped being open (close begun by either side): drop it from the lists. */
  onLeave(ws: ServerSocket): void;
  /** A resumable socket lost its connection but stays open (detached): its slot is free. */
  onDetach(ws: ServerSocket): void;
  /** The descriptor is really gone. */
  onGone(ws: ServerSocket): void;
  /** The socket's persisted record changed (`RECORD`) or only its timestamp (`TIMESTAMP`). */
  onDirty(ws: ServerSocket, what: number): void;
  /** Presence taken from the attachment, when the object's class asks for it. */
  readonly presences?: PresenceHook;
}

/** How an owner takes a socket's presence from its attachment. */
export interface PresenceHook {
  /** The presence of an attachment (checked, frozen; `null` for none), or `null` when not derived. */
  readonly derive: ((attachment: unknown) => unknown) | null;
  /** Sets the socket's presence (already checked) and records the change. */
  set(ws: ServerSocket, value: unknown): void;
}

/** Dirty flags passed to {@linkcode ConnectionOwner.onDirty}: the socket record changed. */
export const RECORD = 1;
/** Only the auto-response timestamp changed: persisted lazily, never flushes on its own. */
export const TIMESTAMP = 2;
