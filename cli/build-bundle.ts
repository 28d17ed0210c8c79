// Build step: the compiled CLI (dist/cli/main.js) and every module it can load, bundled into
// one file, so that a short command such as `petrel status` no longer spends its time finding,
// reading and lexing some 580 files (300 of them the Temporal client with its gRPC and protobuf
// libraries). bin/petrel.js runs it with the V8 code cache made below.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { INamespace } from 'protobufjs';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outfile = path.join(dist, 'cli', 'bundle.cjs');
/** `petrel worker` runs the worker itself: it stays a module of its own, loaded at run time. */
const workerEntry = path.join(dist, 'workers', 'worker.js');

const fileUrlOf = (rel: string) => `require("node:url").pathToFileURL(require("node:path").join(__dirname, ${JSON.stringify(rel)})).href`;

// Modules find files beside themselves through import.meta.url (the worker's entry point, the
// failure converter); in the bundle each still gets its own file's URL, found from where the
// bundle lies so the tree can be moved. The worker is imported by that URL too, which also
// keeps it (and the providers it loads) out of the bundle, through the `importModule` that
// bin/petrel.js hands the bundle: V8 forgets a script's own import() when it comes from a code cache.
const keepPaths: Plugin = {
  name: 'keep-paths',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(dist + path.sep)) return undefined;
      let src = fs.readFileSync(args.path, 'utf8');
      src = src.replace(/\bimport\(\s*(['"])([^'"]+)\1\s*\)/g, (call, _q: string, spec: string) =>
        spec.startsWith('.') && path.resolve(path.dirname(args.path), spec) === workerEntry
          ? `(typeof importModule === "function" ? importModule : (url) => import(url))(${fileUrlOf(path.relative(path.dirname(outfile), workerEntry))})`
          : call,
      );
      src = src.replaceAll('import.meta.url', fileUrlOf(path.relative(path.dirname(outfile), args.path)));
      return { contents: src, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

// The protobuf descriptors the client builds at load time, less the two trees that no client
// message refers to: the Temporal Cloud operations API and the SDK core's worker protocol (a
// third of the whole). Building them took ~40% of the descriptor cost of every command.
const UNUSED_DESCRIPTORS = [['coresdk'], ['temporal', 'api', 'cloud']];
const protoDescriptors: Plugin = {
  name: 'proto-descriptors',
  setup(b) {
    b.onLoad({ filter: /[\\/]@temporalio[\\/]proto[\\/]protos[\\/]json-module\.js$/ }, (args) => {
      const src = fs.readFileSync(args.path, 'utf8');
      const start = src.indexOf('.addJSON(') + '.addJSON('.length;
      const end = src.lastIndexOf('});') + 1;
      if (start < '.addJSON('.length || end <= start) throw new Error(`${args.path}: not the descriptor module expected; see protoDescriptors`);
      const descriptors: INamespace = { nested: JSON.parse(src.slice(start, end)) as INamespace['nested'] };
      for (const at of UNUSED_DESCRIPTORS) {
        let parent: INamespace | undefined = descriptors;
        for (const name of at.slice(0, -1)) parent = parent?.nested?.[name] as INamespace | undefined;
        if (!parent?.nested?.[at.at(-1)!]) throw new Error(`${args.path}: no ${at.join('.')} to leave out; see UNUSED_DESCRIPTORS`);
        delete parent.nested[at.at(-1)!];
      }
      // Every type still there must resolve: nothing left refers to what was taken out.
      const protobuf = createRequire(args.path)('protobufjs/light') as typeof import('protobufjs');
      new protobuf.Root().addJSON(structuredClone(descriptors.nested!)).resolveAll();
      // JSON.parse of a string is faster than evaluating the same object literal.
      return { contents: `${src.slice(0, start)}JSON.parse(${JSON.stringify(JSON.stringify(descriptors.nested))})${src.slice(end)}`, loader: 'js' };
    });
  },
};

// protobufjs builds, when the client creates its gRPC services, a message class for the request
// and the response of every method of them (~300): here each is built on the method's first call.
const EAGER_SERVICE = `        rpcService[methodName] = (function(method, requestType, responseType) {
            return function rpcMethod(request, callback) {
                return rpc.Service.prototype.rpcCall.call(this, method, requestType, responseType, request, callback);
            };
        })(method, method.resolvedRequestType.ctor, method.resolvedResponseType.ctor);`;
const LAZY_SERVICE = `        rpcService[methodName] = (function(method) {
            return function rpcMethod(request, callback) {
                return rpc.Service.prototype.rpcCall.call(this, method, method.resolvedRequestType.ctor, method.resolvedResponseType.ctor, request, callback);
            };
        })(method);`;
const lazyServices: Plugin = {
  name: 'lazy-services',
  setup(b) {
    b.onLoad({ filter: /[\\/]protobufjs[\\/]src[\\/]service\.js$/ }, (args) => {
      const src = fs.readFileSync(args.path, 'utf8');
      if (!src.includes(EAGER_SERVICE)) throw new Error(`${args.path}: Service.prototype.create is not as expected; see EAGER_SERVICE`);
      return { contents: src.replace(EAGER_SERVICE, LAZY_SERVICE), loader: 'js' };
    });
  },
};

const result = await build({
  entryPoints: [path.join(dist, 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  plugins: [keepPaths, protoDescriptors, lazyServices],
  // Smaller to read and to compile. Names are kept: Temporal takes a workflow's type from its function's name.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  // bin/petrel.js reads it as latin1, which is faster and for ASCII the same.
  charset: 'ascii',
  metafile: true,
  logLevel: 'warning',
});
if (/[^\x00-\x7f]/.test(fs.readFileSync(outfile, 'latin1'))) throw new Error(`${outfile} is not ASCII`);

// The CLI talks only to Temporal: nothing of the providers or activities may be in it.
const forbidden = Object.keys(result.metafile.inputs).filter((f) => /^(providers|activities)\//.test(path.relative(dist, path.resolve(f))));
if (forbidden.length > 0) throw new Error(`the CLI bundle would include ${forbidden.join(', ')}`);
if (Object.keys(result.metafile.inputs).some((f) => path.resolve(f) === workerEntry)) throw new Error('the CLI bundle would include workers/worker.js');
fs.writeFileSync(path.join(dist, 'cli', 'bundle-inputs.json'), JSON.stringify(Object.keys(result.metafile.inputs).map((f) => path.relative(dist, path.resolve(f)))));

// The code cache, made by loading every module a command may need without running one.
fs.rmSync(`${outfile}.cache`, { force: true });
const warm = spawnSync(process.execPath, [path.join(dist, '..', 'bin', 'petrel.js')], { env: { ...process.env, PETREL_CODE_CACHE: 'write' }, encoding: 'utf8' });
if (warm.status !== 0 || !fs.existsSync(`${outfile}.cache`)) throw new Error(`could not make the CLI's code cache: ${warm.stderr}`);
