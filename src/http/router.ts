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
  /**
   * Resumable sessions for the sockets of this route (a client that asks for
   * one: see docs/sessions.md). Default: the class's `resumable` option.
   */
  readonly resumable?: boolean;
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
  /** Pathname segments (`":name"` for a group) when the pattern is that simple, else null. */
  readonly segments: readonly string[] | null;
}

// Literal segments of unreserved characters and bare named groups: matched by
// splitting the pathname, which gives URLPattern's result for these patterns
// without its cost (it showed in connect-rate profiles).
const SIMPLE = /^(?:\/(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))+$/;

function simpleSegments(pattern: string | URLPatternInit): readonly string[] | null {
  return typeof pattern === "string" && SIMPLE.test(pattern) ? pattern.split("/") : null;
}

/** The pathname of a serialized URL (as `Request.url` is), without parsing it. */
function pathnameOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const hash = url.indexOf("#", start);
  if (hash >= 0 && hash < end) end = hash;
  return url.slice(start, end);
}

function matchSegments(
  segments: readonly string[],
  path: readonly string[],
): Record<string, string | undefined> | null {
  if (segments.length !== path.length) return null;
  const params: Record<string, string | undefined> = {};
  for (let i = 1; i < segments.length; i++) {
    const expected = segments[i]!;
    const actual = path[i]!;
    if (expected.charCodeAt(0) === 58 /* ":" */) {
      if (actual === "") return null;
      params[expected.slice(1)] = actual;
    } else if (expected !== actual) return null;
  }
  return params;
}

// A URLPattern group name (`:name`), as URLPattern parses it.
const GROUP_NAME = /^[$_\p{ID_Start}][$\u200C\u200D\p{ID_Continue}]*/u;

/** The named groups of a pathname pattern, skipping escapes and regexp groups. */
function pathnameGroups(pathname: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (let i = 0; i < pathname.length; i++) {
    const c = pathname[i];
    if (c === "\\") {
      i++;
    } else if (depth > 0) {
      if (c === "(") depth++;
      else if (c === ")") depth--;
    } else if (c === "(") {
      depth = 1;
    } else if (c === ":") {
      const name = GROUP_NAME.exec(pathname.slice(i + 1))?.[0];
      if (name !== undefined) {
        names.push(name);
        i += name.length;
      }
    }
  }
  return names;
}

/** A route must name the group its object name or id comes from, in its pathname. */
function checkGroups(route: RouteInit, index: number): void {
  if (typeof route.name === "function" && route.id === undefined) return;
  const pathname = typeof route.pattern === "string"
    ? route.pattern
    : route.pattern.pathname ?? "*";
  const groups = pathnameGroups(pathname);
  const listed = groups.length === 0 ? "none" : groups.map((g) => `:${g}`).join(", ");
  const where = `route ${index} ("${pathname}")`;
  if (route.id !== undefined && route.name !== undefined) {
    throw new TypeError(
      `Cannot add ${where} as it sets both name and id: set name for object names, or id for a group holding 64-hex ids`,
    );
  }
  const option = route.id !== undefined ? "id" : route.name !== undefined ? "name" : null;
  const group = route.id ?? (route.name as string | undefined);
  if (option !== null && !groups.includes(group!)) {
    throw new TypeError(
      `Cannot add ${where} as its pathname has no group "${group}" (the ${option} option): its groups are ${listed}. Set ${option} to one of them, or add :${group} to the pattern`,
    );
  }
  if (option === null && !groups.includes("name") && !groups.includes("id")) {
    const example = groups[0] ?? "room";
    throw new TypeError(
      `Cannot add ${where} as its pathname has neither a :name nor an :id group: its groups are ${listed}. Name the group :name, set name: "${example}" (a group, or a function of the match), or set id: "${example}" for a group holding 64-hex ids`,
    );
  }
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
      checkGroups(route, index);
      return { route, pattern, segments: simpleSegments(route.pattern) };
    });
  }

  /** The first route matching `request`, or `null`. */
  match(request: Request): RouteMatch | null {
    let path: string[] | null = null;
    for (const { route, pattern, segments } of this.#routes) {
      let params: Record<string, string | undefined> | null;
      if (segments !== null) {
        path ??= pathnameOf(request.url).split("/");
        params = matchSegments(segments, path);
      } else params = pattern.exec(request.url)?.pathname.groups ?? null;
      if (params === null) continue;
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
