import * as Y from 'yjs'
import { WorldDoc } from '../core/index.js'
import { measure, type BenchRow } from './harness.js'

/** Local writes: raw Y.Map sets against the same writes through the typed WorldDoc API. */
export const runWorldBench = async (): Promise<BenchRow[]> => {
  const writes = 5000
  const raw = await measure('raw Y.Map set', writes, () => {
    const doc = new Y.Doc()
    const entities = doc.getMap<Y.Map<unknown>>('entities')
    const maps: Y.Map<unknown>[] = []
    for (let i = 0; i < 100; i++) {
      const m = new Y.Map<unknown>()
      entities.set(`e${i}`, m)
      maps.push(m)
    }
    for (let i = 0; i < writes; i++) maps[i % 100]!.set('hp', i)
  })
  const world = await measure('WorldDoc.setComponent', writes, () => {
    const w = new WorldDoc(new Y.Doc())
    for (let i = 0; i < 100; i++) w.createEntity(`e${i}`, 'npc', { health: { hp: 100 } })
    for (let i = 0; i < writes; i++) w.setComponent(`e${i % 100}`, 'health', { hp: i })
  })
  const holders = await measure('WorldDoc.setItemHolderUnversioned', writes, () => {
    const w = new WorldDoc(new Y.Doc())
    for (let i = 0; i < 100; i++) w.createItem(`i${i}`, 'loot')
    for (let i = 0; i < writes; i++) w.setItemHolderUnversioned(`i${i % 100}`, { type: 'player', id: `p${i % 7}` })
  })
  return [
    { section: 'local writes', name: 'Yjs Y.Map.set on nested maps', perSecond: raw, unit: 'writes/s' },
    { section: 'local writes', name: 'WorldDoc.setComponent', perSecond: world, unit: 'writes/s', baseline: 'Yjs Y.Map.set on nested maps' },
    { section: 'local writes', name: 'WorldDoc.setItemHolderUnversioned (with inventory index)', perSecond: holders, unit: 'writes/s', baseline: 'Yjs Y.Map.set on nested maps' },
  ]
}
