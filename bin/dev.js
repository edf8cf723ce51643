#!/usr/bin/env node
// Runs the compiled commands in dist/ without a manifest lookup, so a stale
// oclif.manifest.json can never make it run old code. Run `npm run build` first.
import { execute } from '@oclif/core';

await execute({ development: true, dir: import.meta.url });
