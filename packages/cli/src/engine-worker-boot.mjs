// Worker-thread boot: workers do not inherit tsx's loader, so register it here,
// then load @dualsip/engine, whose main module runs the engine from workerData
// when it finds itself in a worker thread (see packages/engine/src/main.ts).
import { register } from 'tsx/esm/api';

register();
await import('@dualsip/engine');
