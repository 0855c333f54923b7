/**
 * What the soak sent and what its consumers handled, by message number. A message is in the ledger
 * once its send resolved; a send that rejected may or may not have been stored, so it is not owed.
 */
export class Ledger {
  sent = 0;
  /** Handled messages, each counted once, the ledger's and any other. */
  unique = 0;
  /** Handlings beyond the first of a message: redeliveries after a kill, a lost ack, a restart. */
  duplicates = 0;
  readonly #sent: Uint8Array;
  readonly #handled: Uint8Array;
  /** Messages in the ledger not handled yet. */
  #owed = 0;

  constructor(size: number) {
    this.#sent = new Uint8Array(size);
    this.#handled = new Uint8Array(size);
  }

  recordSent(n: number): void {
    this.#sent[n] = 1;
    this.sent++;
    if (this.#handled[n] === 0) this.#owed++;
  }

  recordHandled(n: number): void {
    if (this.#handled[n] === 1) {
      this.duplicates++;
      return;
    }
    this.#handled[n] = 1;
    this.unique++;
    if (this.#sent[n] === 1) this.#owed--;
  }

  /** Sent and never handled (so far): the ones lost if the soak ends now. */
  get lost(): number {
    return this.#owed;
  }

  /** A few of the messages still owed, to name in a report. */
  owed(count: number): number[] {
    const found: number[] = [];
    for (let n = 0; n < this.#sent.length && found.length < count; n++) {
      if (this.#sent[n] === 1 && this.#handled[n] === 0) found.push(n);
    }
    return found;
  }
}
