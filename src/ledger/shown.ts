import { isUtf8 } from 'node:buffer';

/**
 * A refused line's stored beginning as a person reads it: the text, and when the bytes are not
 * valid UTF-8 (the text then shows U+FFFD where they were) the exact bytes in base64 too, so what
 * the merchant sent can still be seen byte for byte. Storage keeps the bytes either way.
 */
export function shownHead(head: Buffer): { head: string; head_base64?: string } {
  return isUtf8(head) ? { head: head.toString('utf8') } : { head: head.toString('utf8'), head_base64: head.toString('base64') };
}
