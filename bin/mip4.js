#!/usr/bin/env node
// Entry point of the `mip4` executable. The TypeScript sources are compiled to dist/
// by `npm ci` (the prepare script); run `npm run build` after editing them.
import { main } from '../dist/runtime/cli/main.js';

// A closed pipe (`mip4 ... | head`) ends the output, not the process with a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
