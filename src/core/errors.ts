/**
 * An error caused by the user's input (a file, a field, a prompt) rather than by a bug. The CLI
 * prints its message as one line, without a stack trace; the message must say what and where.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}
