/** Longest close reason a WebSocket close frame can carry, in UTF-8 bytes (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123

const utf8 = new TextEncoder()

/** `text` cut to fit a close frame, on a character boundary (`ws` throws on a longer reason). */
export const closeReason = (text: string): string => {
  if (utf8.encode(text).length <= MAX_CLOSE_REASON_BYTES) return text
  let out = ''
  for (const char of text) {
    if (utf8.encode(out + char).length > MAX_CLOSE_REASON_BYTES) break
    out += char
  }
  return out
}
