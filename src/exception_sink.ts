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
 * throwing hook is logged together with the error it was given.
 */
export function exceptionSink(options: { readonly onException?: ExceptionHandler }): Report {
  return (error, context) => {
    const hook = options.onException;
    if (hook) {
      try {
        return hook(error, context);
      } catch (hookError) {
        error = new AggregateError([error, hookError], "onException hook threw");
      }
    }
    console.error(JSON.stringify({
      level: "error",
      msg: "exception in durable object",
      ...context,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    }));
  };
}
