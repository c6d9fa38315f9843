/**
 * URL of a sibling module (a worker entry) with the caller's own extension: `.ts` when the project
 * runs from its sources (tsx, vitest), `.js` when it runs compiled from dist/.
 *
 *   siblingModule('./samplerWorker', import.meta.url)  →  …/samplerWorker.ts  or  …/samplerWorker.js
 */
export function siblingModule(path: string, base: string): URL {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(base).pathname)?.[0] ?? '.js';
  return new URL(`${path}${ext}`, base);
}
