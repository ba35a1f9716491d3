#!/usr/bin/env node
// Launcher: registers tsx so the TypeScript sources run directly, then starts the CLI.
import { register } from 'tsx/esm/api';

register();
globalThis.__dualsipBin = true;
await import('../src/main.ts');
