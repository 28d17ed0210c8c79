// Worker process entry point (what `petrel server start` spawns and the Dockerfile runs).
import { runWorker } from './worker.js';

runWorker().catch((err) => {
  console.error(`petrel worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
