/**
 * Runs `fn` with `console.warn` recorded instead of printed, and restores it
 * afterwards (even when `fn` throws). The app has no logger option: its
 * one-time warnings go to `console.warn`.
 */
export async function captureWarnings(fn: () => unknown): Promise<string[]> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return warnings;
}
