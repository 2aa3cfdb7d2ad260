#!/usr/bin/env node
// The CLI runs straight from the TypeScript sources through tsx's loader: no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
