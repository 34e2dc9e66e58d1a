#!/usr/bin/env node
// The CLI entry: the bundled engine lives in dist/cli.js (built by `npm run build`, which
// `npm ci` runs through the `prepare` script).
require('../dist/cli.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
