#!/usr/bin/env node
// Thin launcher: the CLI is built into dist/ by `npm run build` (or `npm install`), as one
// bundled file (cli/build-bundle.ts) run here with the V8 code cache the build made for it, so
// a command does not spend its time finding, reading and compiling hundreds of modules.
// CommonJS (bin/package.json): an ES module entry point costs every command the ESM loader.
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const bundle = path.join(__dirname, '..', 'dist', 'cli', 'bundle.cjs');

function runBundle() {
  let source;
  try {
    // A bundle older than the compiled CLI (tsc run alone, without the bundling step) would
    // run stale code: the compiled modules are used instead.
    if (fs.statSync(bundle).mtimeMs < fs.statSync(path.join(__dirname, '..', 'dist', 'cli', 'main.js')).mtimeMs) return false;
    // The build keeps the bundle ASCII: latin1 reads it faster than utf8, to the same string.
    source = fs.readFileSync(bundle, 'latin1');
  } catch {
    return false;
  }
  const writeCache = process.env.PETREL_CODE_CACHE === 'write';
  let cachedData;
  try {
    if (!writeCache) cachedData = fs.readFileSync(`${bundle}.cache`);
  } catch {
    // none: compiled from source, as without a cache
  }
  // A cache from another Node version is rejected by V8 and the source compiled instead.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, importModule) {${source}\n})`, { filename: bundle, cachedData });
  // Made at exit, so that it holds every function the modules' loading compiled.
  if (writeCache) process.once('exit', () => fs.writeFileSync(`${bundle}.cache`, script.createCachedData()));
  const module = { exports: {} };
  // A script compiled here cannot import() (with a code cache V8 drops its import callback):
  // the bundle imports through this function, which is this file's own import().
  const importModule = (url) => import(url);
  script.runInThisContext()(module.exports, Module.createRequire(bundle), module, bundle, path.dirname(bundle), importModule);
  return true;
}

if (!runBundle()) {
  import('../dist/cli/main.js').catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
      process.stderr.write('petrel: not built yet; run `npm run build` in the petrel checkout first.\n');
      process.exit(2);
    }
    throw err;
  });
}
