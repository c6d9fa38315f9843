// Worker entry that loads a TypeScript worker entry (workerData.tsEntry, a file URL). tsx's
// `--import` hooks do not reach worker threads under Node 20, so the worker registers tsx itself.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.tsEntry);
