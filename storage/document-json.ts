import * as Y from 'yjs'

/** What kind of shared type a root holds, judged from its content when nobody has asked for it by kind yet. */
export type RootKind = 'map' | 'array' | 'text' | 'xml' | 'empty'

// Yjs types are invariant in their event parameter, so the common base needs `any`; it stays private.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyType = Y.AbstractType<any>

/**
 * The kind of a root type. A document decoded from updates has its roots as bare `AbstractType`s
 * (an update does not say which constructor a root was made with), so the kind is read from the
 * content: keyed entries make a map, strings or formatting make text, XML nodes make XML, anything
 * else in sequence makes an array.
 */
export const rootKind = (type: AnyType): RootKind => {
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.XmlFragment) return 'xml'
  if (type._map.size > 0) return 'map'
  for (let item = type._start; item !== null; item = item.right) {
    const content = item.content
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text'
    if (content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText)) return 'xml'
  }
  return type._start === null ? 'empty' : 'array'
}

/** A root's content as JSON (text and XML as strings), typing the root by `rootKind` first. */
export const rootJson = (doc: Y.Doc, name: string): unknown => {
  const type = doc.share.get(name)
  if (!type) return undefined
  switch (rootKind(type)) {
    case 'map':
      return doc.getMap(name).toJSON()
    case 'array':
      return doc.getArray(name).toJSON()
    case 'text':
      return doc.getText(name).toString()
    case 'xml':
      return doc.getXmlFragment(name).toString()
    case 'empty':
      return undefined
  }
}

const isEmpty = (value: unknown): boolean =>
  value === undefined || value === '' || (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && value !== null && Object.keys(value).length === 0)

/**
 * Everything a document holds, as JSON by root name (sorted). Empty roots are left out: a writer
 * that merely asked for a root (`getMap('items')`) and a replica that never heard of it hold the
 * same content and must print the same.
 */
export const documentJson = (doc: Y.Doc): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const name of [...doc.share.keys()].sort()) {
    const value = rootJson(doc, name)
    if (!isEmpty(value)) out[name] = value
  }
  return out
}

/** JSON with object keys sorted, so equal content compares equal whatever the insertion order. */
export const sortedKeysJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  )
