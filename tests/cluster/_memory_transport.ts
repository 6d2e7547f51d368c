// An in-memory Transport for tests: several nodes in one process, FIFO per pair (each message
// is delivered on a microtask, in send order), at most once, with a switch that cuts the
// network (status "down": everything sent meanwhile is dropped) and counters per receiver.
import type { Transport, TransportStatus } from "../../src/cluster/transport.ts";

/** The shared network the transports of one test talk through. */
export class MemoryNetwork {
  readonly #nodes = new Map<string, (from: string, bytes: Uint8Array) => void>();
  readonly #transports = new Set<MemoryTransport>();
  #up = true;
  /** Messages sent, in total. */
  sent = 0;
  /** Messages sent to each node. */
  readonly sentTo = new Map<string, number>();

  /** A transport on this network. */
  transport(): MemoryTransport {
    const transport = new MemoryTransport(this);
    this.#transports.add(transport);
    return transport;
  }

  /** Cuts (`false`) or restores (`true`) every link; transports report the status change. */
  set up(up: boolean) {
    if (this.#up === up) return;
    this.#up = up;
    for (const t of this.#transports) t.changed(up ? "up" : "down");
  }

  get up(): boolean {
    return this.#up;
  }

  /** Nodes whose messages (to and from them) are dropped, as if they died. */
  readonly silenced = new Set<string>();

  /** Resets the counters. */
  resetCounts(): void {
    this.sent = 0;
    this.sentTo.clear();
  }

  listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): void {
    this.#nodes.set(node, onMessage);
  }

  unlisten(node: string): void {
    this.#nodes.delete(node);
  }

  deliver(from: string, to: string, bytes: Uint8Array): void {
    if (!this.#up || this.silenced.has(from) || this.silenced.has(to)) return;
    this.sent++;
    this.sentTo.set(to, (this.sentTo.get(to) ?? 0) + 1);
    const copy = bytes.slice(); // the sender may reuse its buffer
    // Asynchronous as a real bus, in send order (FIFO per pair). A microtask, not a timer: Deno
    // clamps chained zero-delay timers to 4 ms, which would be measured as bridge latency.
    queueMicrotask(() => {
      if (this.#up) this.#nodes.get(to)?.(from, copy);
    });
  }
}

/** One node's end of a {@linkcode MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly #network: MemoryNetwork;
  readonly #listeners: Array<(status: TransportStatus) => void> = [];
  #node: string | null = null;

  constructor(network: MemoryNetwork) {
    this.#network = network;
  }

  get status(): TransportStatus {
    return this.#network.up ? "up" : "down";
  }

  /** The node id it listens on (`null` before it listens). */
  get node(): string | null {
    return this.#node;
  }

  listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): Promise<void> {
    if (this.#node !== null) this.#network.unlisten(this.#node);
    this.#node = node;
    this.#network.listen(node, onMessage);
    return Promise.resolve();
  }

  send(to: string, bytes: Uint8Array): void {
    if (this.#node === null) return;
    this.#network.deliver(this.#node, to, bytes);
  }

  onStatus(listener: (status: TransportStatus) => void): void {
    this.#listeners.push(listener);
  }

  changed(status: TransportStatus): void {
    for (const listener of this.#listeners) listener(status);
  }

  close(): Promise<void> {
    if (this.#node !== null) this.#network.unlisten(this.#node);
    return Promise.resolve();
  }
}
