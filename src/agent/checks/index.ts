// The agent's health checks: definitions (parse, validate, JSON) and runners.

export * from './definition.js';
export * from './runner.js';
export { truncateTtlOutput } from './output.js';
