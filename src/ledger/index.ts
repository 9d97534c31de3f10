/** The ledger module: run state behind typed ports (see ./types.ts), on MariaDB or in memory. */
export * from './types.js';
export { createMysqlLedger } from './mysql.js';
export { createMemoryLedger, type MemoryLedger } from './memory.js';
export { EpochCache, EpochMetas, MerchantEpochs, OffsetRecorder, Snapshots } from './checkpoints.js';
