import { describe, expect, it } from 'vitest';
import { cut, formatTable } from '../../src/cli/table.js';

describe('formatTable', () => {
  it('aligns columns, counts to the right, and leaves no trailing blanks', () => {
    const text = formatTable(
      [
        ['QUEUE', 'READY', 'NOTE'],
        ['orders', '1204', 'x'],
        ['a', '3', ''],
      ],
      { numeric: [1] },
    );
    expect(text).toBe(['QUEUE   READY  NOTE', 'orders   1204  x', 'a           3'].join('\n'));
  });

  it('cuts each line to the width, the last column giving way', () => {
    const text = formatTable(
      [
        ['ID', 'MESSAGE'],
        ['1', '{"a":"0123456789"}'],
      ],
      { width: 12 },
    );
    expect(text.split('\n')).toEqual(['ID  MESSAGE', '1   {"a":"0…']);
  });

  it('writes control characters as escapes: a cell cannot drive the terminal', () => {
    expect(formatTable([['\u001b[2Jgone\nnext\u009b']])).toBe('\\u001b[2Jgone\\u000anext\\u009b');
  });

  it('cuts between code points, never inside a surrogate pair', () => {
    expect(cut('😀😀😀', 2)).toBe('😀…');
    expect(cut('short', 10)).toBe('short');
  });
});
