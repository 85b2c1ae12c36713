/** Lower-case hex of bytes (hashes, epoch tags). */
export const toHexString = (bytes: Uint8Array): string => {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}
