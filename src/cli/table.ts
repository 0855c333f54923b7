/**
 * Aligned plain-text tables for human output. Cells come from the broker (ids, reasons, message
 * content): control characters are written as escapes, so no cell can move the cursor, recolour
 * the terminal or break a row.
 */
export interface TableOptions {
  /** Indexes of the columns aligned right (counts). */
  readonly numeric?: readonly number[];
  /** No line is longer: the last column is cut to fit (with `…`). Default: no limit. */
  readonly width?: number;
}

const GAP = '  ';

/** `rows[0]` is the header row when the table has one. */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const { numeric = [], width = Number.POSITIVE_INFINITY } = options;
  const cells = rows.map((row) => row.map(printable));
  const columns = Math.max(0, ...cells.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(...cells.map((row) => length(row[i] ?? ''))),
  );
  return cells
    .map((row) => {
      const padded = row.map((cell, i) => {
        if (i === columns - 1 && !numeric.includes(i)) return cell;
        const room = ' '.repeat(widths[i]! - length(cell));
        return numeric.includes(i) ? room + cell : cell + room;
      });
      return cut(padded.join(GAP).trimEnd(), width);
    })
    .join('\n');
}

/** Escapes C0 and C1 control characters (and DEL) the way JSON writes them. */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** At most `width` characters (code points), the last being `…` when anything was cut. */
export function cut(text: string, width: number): string {
  const points = [...text];
  if (points.length <= width) return text;
  return `${points.slice(0, Math.max(0, width - 1)).join('')}…`;
}

function length(text: string): number {
  return [...text].length;
}
