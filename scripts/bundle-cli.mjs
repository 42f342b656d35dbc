// Bundles the compiled CLI (dist/src/cli.js and everything it imports) into one file,
// dist/src/cli.bundle.mjs, which the `sinkrule` launcher (bin.js) starts. Node resolves, reads and
// links each ES module of a run on its own: about 750 files and 0.45 s before the first request
// of every command, 2 % of a 20 s verify at the service's ceiling. One file starts in a fraction
// of that. The bundle sits beside cli.js, so paths.ts finds the package root the same way.
//
// Left out, loaded from node_modules when a run needs them: the EWS client and its NTLM layer
// (only runs with on-premises mailboxes), the XML parser and Markdown renderer (EWS, manual
// mailboxes), node-forge (PFX certificates) and deasync (an optional require inside a
// dependency that sinkrule never reaches).
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: 'dist/src/cli.bundle.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['ews-javascript-api', '@ewsjs/xhr', '@xmldom/xmldom', 'marked', 'node-forge', 'deasync'],
  // The CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as bundleRequire } from 'node:module';\nconst require = bundleRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
