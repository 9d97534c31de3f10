import { createMemoryTableStore } from '../../../src/adapters/memory.js';
import { tableStoreConformance } from '../../support/table-store-conformance.js';

tableStoreConformance('memory', async () => ({ store: createMemoryTableStore(), table: 'ns:t' }));
