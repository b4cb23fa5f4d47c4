// Preloaded after ts-node into a measured process: drops the stack-trace rewriting that ts-node
// installs (@cspotcode/source-map-support's Error.prepareStackTrace), so V8 formats stacks itself.
// Pulumi's runtime reads `new Error().stack` for every promise it tracks and every resource it
// registers; the benchmark runs with and without this file to show what that rewriting costs. Never
// used by the program: without it, errors would point at transpiled lines instead of index.ts's.
Reflect.deleteProperty(Error, "prepareStackTrace");
