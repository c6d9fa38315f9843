/**
 * The project's one CSV writer (RFC 4180): fields separated by commas, records by CRLF, a field
 * quoted (inner quotes doubled) when it holds a comma, quote, CR or LF; empty for null/undefined.
 */
export type CsvCell = string | number | boolean | null | undefined;

/** One CSV field. */
export function csvField(cell: CsvCell): string {
  const text = cell === null || cell === undefined ? '' : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The whole text, ending with a CRLF (empty for no rows). */
export function toCsv(rows: readonly (readonly CsvCell[])[]): string {
  return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + (rows.length > 0 ? '\r\n' : '');
}

/**
 * Records with varying keys as CSV: a header of every key in first-seen order, then one row per
 * record (a key a record lacks is an empty field).
 */
export function recordsToCsv(records: readonly Record<string, CsvCell>[]): string {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) if (!seen.has(k)) seen.add(k) && columns.push(k);
  return toCsv([columns, ...records.map((r) => columns.map((k) => r[k]))]);
}
