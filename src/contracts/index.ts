export * from './events.js';
export * from './schemas.js';
export * from './fast-parse.js';
