/**
 * The tensor backends by name, apart from their loader (src/tensor/backend.ts) so that the
 * config schema and `--help` can list them without loading tfjs.
 */
export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
