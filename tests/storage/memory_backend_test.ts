import { MemoryBackend } from "../../src/storage/memory_backend.ts";
import { storageConformance } from "./_storage_conformance.ts";

// No intentional differences: a Storage in memory passes every shared case.
storageConformance(
  "MemoryStorage",
  () => Promise.resolve({ backend: new MemoryBackend(), close() {} }),
);
