#!/usr/bin/env node
// The CLI runs the built JavaScript in dist/ (`npm run build`; `npm install` in a clone builds it too).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('patchwise: dist/ is missing (the TypeScript sources are not built); run `npm run build` in the patchwise folder');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv.slice(2));
