#!/usr/bin/env node
// The prepack script of npm pack / npm publish: dist/ is emptied, then npm runs the prepare script
// (tsc) before packing, so the tarball carries what the current sources compile to and never the
// output of a source file since deleted.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
