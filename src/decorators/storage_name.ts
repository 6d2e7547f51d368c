/**
 * A class's storage name: ids and KV keys derive from it, so it must outlive
 * renames of the class and of its binding key.
 */

import { hasOwnOptions } from "./metadata.ts";

/** Classes already warned about, so each is named once per process. */
const warned = new WeakSet<object>();

/**
 * The storage name a class sets: `@durableObject({ name })`, or a static
 * `storageName` (for classes without decorators); `undefined` when neither.
 * Both are inherited; the one declared nearer the class wins.
 *
 * @param decorated The `name` of the nearest `@durableObject`, if any.
 * @throws {TypeError} If `storageName` is not a string, or one class
 * declares both and they disagree.
 */
export function declaredStorageName(
  ctor: object,
  binding: string,
  decorated: string | undefined,
): string | undefined {
  const value: unknown = (ctor as { storageName?: unknown }).storageName;
  if (value === undefined) return decorated;
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot register "${binding}" as its static storageName must be a string: current type is ${typeof value}`,
    );
  }
  if (decorated === undefined || decorated === value) return value;
  // Which is nearer: the class (or ancestor) that declares the static, or the one decorated?
  for (let c: object | null = ctor; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const ownStatic = Object.hasOwn(c, "storageName");
    const ownDecorator = hasOwnOptions(c);
    if (ownStatic && ownDecorator) {
      throw new TypeError(
        `Cannot register "${binding}" as @durableObject({ name: "${decorated}" }) and static storageName "${value}" disagree: keep one`,
      );
    }
    if (ownStatic) return value;
    if (ownDecorator) return decorated;
  }
  return value;
}

/**
 * Warns once per class and process that a class takes its binding key as
 * storage name, so renaming the key would orphan its data.
 */
export function warnUnnamed(classes: Iterable<readonly [binding: string, ctor: object]>): void {
  for (const [binding, ctor] of classes) {
    if (warned.has(ctor)) continue;
    warned.add(ctor);
    const name = (ctor as { name?: unknown }).name;
    console.warn(
      `Dormant: "${binding}" (class ${
        String(name) || "(anonymous)"
      }) has no storage name, so ids and KV keys use its binding key "${binding}": renaming that key later loses its objects' data. Set one: @durableObject({ name: "${binding}" }), or static storageName = "${binding}" on a class without decorators ("${binding}" keeps the data stored so far).`,
    );
  }
}
