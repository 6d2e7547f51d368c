/**
 * Maps request URLs to an object: a namespace plus a name or an id.
 *
 * @module
 */

/** A route from a URL pattern to an object. */
export interface RouteInit {
  /** A pathname pattern (`"/rooms/:room/ws"`) or a full `URLPatternInit`. */
  readonly pattern: string | URLPatternInit;
  /** The binding name of the object class (`"ROOM"`). */
  readonly object: string;
  /**
   * Where the object's name comes from: a pattern group name, or a function
   * of the match. Defaults to the group `name`, else the group `id` is read
   * as a 64-hex id.
   */
  readonly name?:
    | string
    | ((params: Record<string, string | undefined>, request: Request) => string | null);
  /** A pattern group holding a 64-hex id instead of a name. */
  readonly id?: string;
  /**
   * `true` (default): only WebSocket upgrades; anything else gets 426.
   * `false`: plain HTTP goes to the object's `fetch`/`@onRequest` too.
   */
  readonly websocket?: boolean;
}

/** A matched route. */
export interface RouteMatch {
  readonly route: RouteInit;
  readonly params: Record<string, string | undefined>;
  /** The object name, when the route names objects. */
  readonly name: string | null;
  /** The raw id, when the route carries ids. */
  readonly id: string | null;
}

interface Compiled {
  readonly route: RouteInit;
  readonly pattern: URLPattern;
}

/** First match wins, in route order. */
export class Router {
  readonly #routes: Compiled[];

  constructor(routes: readonly RouteInit[], bindings: ReadonlySet<string>) {
    this.#routes = routes.map((route, index) => {
      if (!bindings.has(route.object)) {
        throw new TypeError(
          `Cannot add route ${index} as object "${route.object}" is not registered: known are ${
            [...bindings].join(", ")
          }`,
        );
      }
      const pattern = typeof route.pattern === "string"
        ? new URLPattern({ pathname: route.pattern })
        : new URLPattern(route.pattern);
      return { route, pattern };
    });
  }

  /** The first route matching `request`, or `null`. */
  match(request: Request): RouteMatch | null {
    for (const { route, pattern } of this.#routes) {
      const result = pattern.exec(request.url);
      if (result === null) continue;
      const params = result.pathname.groups;
      if (route.id !== undefined) {
        return { route, params, name: null, id: params[route.id] ?? null };
      }
      if (typeof route.name === "function") {
        return { route, params, name: route.name(params, request), id: null };
      }
      const group = route.name ??
        (params.name !== undefined || params.id === undefined ? "name" : null);
      if (group === null) return { route, params, name: null, id: params.id ?? null };
      return { route, params, name: params[group] ?? null, id: null };
    }
    return null;
  }
}
