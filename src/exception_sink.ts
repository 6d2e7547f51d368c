/**
 * Where the app's exceptions go: the `onException` hook, else one JSON line on stderr.
 *
 * @module
 */

import type { ExceptionContext, ExceptionHandler } from "./types.ts";

/** Reports an exception with its context. */
export type Report = (error: unknown, context: ExceptionContext) => void;

/**
 * The app's reporter: `options.onException` (read at each report), else one JSON log line; a
 * throwing hook is logged together with the error it was given (`error`, then `hookError`).
 */
export function exceptionSink(options: { readonly onException?: ExceptionHandler }): Report {
  return (error, context) => {
    const hook = options.onException;
    let hookFailure: { hookError: string; hookStack: string | undefined } | undefined;
    if (hook) {
      try {
        return hook(error, context);
      } catch (hookError) {
        hookFailure = { hookError: describe(hookError), hookStack: stackOf(hookError) };
      }
    }
    console.error(JSON.stringify({
      level: "error",
      msg: "exception in durable object",
      ...context,
      error: describe(error),
      stack: stackOf(error),
      ...hookFailure,
    }));
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function stackOf(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : undefined;
}
