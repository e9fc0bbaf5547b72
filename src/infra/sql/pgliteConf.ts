/**
 * PostgreSQL settings of the embedded database. 128 MB of shared buffers (the default) is
 * more than a development or single-node data set uses, and is resident memory of the
 * service process: 32 MB keeps the embedded default small (docs/benchmarks.md, memory).
 */
export const PGLITE_CONF = 'shared_buffers = 32MB\n';
