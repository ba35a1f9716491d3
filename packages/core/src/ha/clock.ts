// The HA layer's clock is the core's clock.
export * from '../clock.js';
