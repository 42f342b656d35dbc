// Bundles the compiled CLI (dist/src/cli.js and everything it imports) into one file,
// dist/src/cli.bundle.cjs, which the `sinkrule` launcher (bin.js) starts through start-bundle.js.
// Node resolves, reads and links each ES module of a run on its own: about 750 files and 0.45 s
// before the first request of every command, 2 % of a 20 s verify at the service's ceiling. One
// file starts in a fraction of that. The bundle sits beside cli.js, so paths.ts finds the package
// root the same way.
//
// CommonJS, not an ES module: Node 20 keeps V8's compiled code (the code cache) only for a
// script, and start-bundle.js runs the bundle from it. `import.meta.url` becomes the bundle's URL.
//
// Left out, loaded from node_modules when a run needs them: the EWS client and its NTLM layer
// (only runs with on-premises mailboxes), the XML parser and Markdown renderer (EWS, manual
// mailboxes), node-forge (PFX certificates) and deasync (an optional require inside a
// dependency that sinkrule never reaches).
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: 'dist/src/cli.bundle.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['ews-javascript-api', '@ewsjs/xhr', '@xmldom/xmldom', 'marked', 'node-forge', 'deasync'],
  define: { 'import.meta.url': 'bundleUrl' },
  // A script run from V8's code cache loses its import() callback (Node 20): every import() of a
  // module outside the bundle becomes a require(), which Node (>= 20.19) also has for ES modules.
  supported: { 'dynamic-import': false },
  banner: { js: "const bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
