/** Rows one at a time out of batches of rows: TableStore.scan over scanBatches, for every store. */
export async function* rowsOf<R>(batches: AsyncIterable<R[]>): AsyncGenerator<R> {
  for await (const batch of batches) yield* batch;
}
