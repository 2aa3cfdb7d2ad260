// How single tokens are shown in tables and the viewer: one line each, every byte accounted for.
// A token may hold part of a UTF-8 character (GPT-2 byte-level tokens, SentencePiece byte tokens);
// those bytes are shown as `<0xNN>`, the notation SentencePiece vocabularies already use.

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Shows text on one line: newline, tab and carriage return escaped, other control characters as `<0xNN>`. */
export function displayText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += hexByte(cp);
    else out += ch;
  }
  return out;
}

/** Shows raw bytes: complete UTF-8 characters as text, any byte that is not part of one as `<0xNN>`. */
export function displayBytes(bytes: ArrayLike<number>): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = utf8SequenceLength(bytes, i);
    if (length > 0) {
      out += displayText(utf8.decode(Uint8Array.from({ length }, (_, k) => bytes[i + k] ?? 0)));
      i += length;
    } else {
      out += hexByte(bytes[i] ?? 0);
      i += 1;
    }
  }
  return out;
}

/** `<0xNN>` with two upper-case hex digits, as in SentencePiece byte tokens. */
export function hexByte(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

// Length of the well-formed UTF-8 sequence starting at `start`, or 0 where there is none. The
// strict decoder has the final word (overlong forms, surrogates), so this only finds the extent.
function utf8SequenceLength(bytes: ArrayLike<number>, start: number): number {
  const lead = bytes[start] ?? 0;
  const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
  if (length === 0 || start + length > bytes.length) return 0;
  const slice = Uint8Array.from({ length }, (_, k) => bytes[start + k] ?? 0);
  try {
    utf8.decode(slice);
    return length;
  } catch {
    return 0;
  }
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte a SentencePiece byte-fallback piece such as `<0x0A>` stands for, if it is one. */
export function bytePieceValue(piece: string): number | undefined {
  const match = BYTE_PIECE.exec(piece);
  return match?.[1] === undefined ? undefined : parseInt(match[1], 16);
}

/** Shows a SentencePiece piece: '▁' as a space, a byte piece as its character when it is one on its own. */
export function sentencePieceDisplay(piece: string): string {
  const byte = bytePieceValue(piece);
  if (byte !== undefined) return displayBytes([byte]);
  return displayText(piece.replaceAll('\u2581', ' '));
}
