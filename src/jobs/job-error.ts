import type { JobError } from './store.js';

/** Characters of an error's message a store keeps: enough to read, bounded whatever was thrown. */
const MAX_MESSAGE_LENGTH = 4096;

/** What a store keeps of a task's error: its name, message and string `code`. */
export function storedError(error: unknown): JobError {
  let name = 'Error';
  let message: string;
  let code: unknown;
  try {
    if (error instanceof Error) {
      name = String(error.name || 'Error');
      message = String(error.message);
      code = (error as { code?: unknown }).code;
    } else {
      message = String(error);
    }
  } catch {
    message = Object.prototype.toString.call(error); // a thrown value whose toString throws
  }
  if (message.length > MAX_MESSAGE_LENGTH) message = `${message.slice(0, MAX_MESSAGE_LENGTH)}…`;
  return typeof code === 'string' ? { name, message, code } : { name, message };
}

/** A stored error as an Error again (the cause of a JobFailedError in another process). */
export function revivedError(stored: JobError): Error {
  const error = new Error(stored.message) as Error & { code?: string };
  error.name = stored.name;
  if (stored.code !== undefined) error.code = stored.code;
  return error;
}
