#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (or `npm install`).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('petrel: not built yet; run `npm run build` in the petrel checkout first.\n');
    process.exit(2);
  }
  throw err;
});
