/**
 * Kept for imports from before src/daemons/: the renderers now live in their daemon's module.
 * New code imports from '../daemons/index.js'.
 */
export * from '../daemons/index.js';
