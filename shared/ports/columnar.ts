/** What writes the audit log's columnar copy (Parquet: hyparquet-writer, in AWS and locally) and what reads it back (DuckDB). */

/** One audit object as stored: its key and its gzip NDJSON bytes. */
export interface ColumnarSource {
  key: string;
  body: Uint8Array;
}

export interface ColumnarComparison {
  /** Rows in the Parquet file. */
  rows: number;
  /** Rows of the copy that are no record of the sources (changed or added), and records of the sources missing from the copy. */
  onlyInCopy: number;
  onlyInLog: number;
  /** Set when the file's columns are not COLUMNAR_COLUMNS with their types, or it cannot be read. */
  schemaProblem?: string;
}

export interface ColumnarWriter {
  /** A Parquet file with one row per record of the sources (COLUMNAR_COLUMNS), in their order. */
  toParquet(sources: readonly ColumnarSource[]): Promise<Uint8Array>;
}

export interface ColumnarEngine {
  /** Compares a Parquet file with the records of its sources, row for row (as multisets of typed rows). */
  compare(parquet: Uint8Array, sources: readonly ColumnarSource[]): Promise<ColumnarComparison>;
}
