#!/usr/bin/env sh
# `npm test` after the type checks: the in-process tests two files at a time, then the system
# tests (namespaces, daemons, packaging) one at a time (vitest.config.ts). Both always run; the
# exit status fails if either did.
status=0
npx vitest run --project unit --maxWorkers=2 --minWorkers=1 || status=1
npx vitest run --project system --maxWorkers=1 --minWorkers=1 || status=1
exit $status
