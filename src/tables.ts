/** The namespace's HBase tables. */
export interface Tables {
  raw: string;
  sessions: string;
  summaries: string;
  products: string;
}

export const tablesFor = (hbaseNamespace: string): Tables => ({
  raw: `${hbaseNamespace}:raw_events`,
  sessions: `${hbaseNamespace}:sessions`,
  summaries: `${hbaseNamespace}:daily_summaries`,
  products: `${hbaseNamespace}:daily_products`,
});
