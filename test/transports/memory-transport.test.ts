import { describe, expect, it } from 'vitest'
import { MemoryNetwork } from '../../transports/index.js'
import { flushMicrotasks } from '../helpers/manual-clock.js'

describe('MemoryNetwork', () => {
  it('connects endpoints, delivers frames in order, and disconnects', async () => {
    const network = new MemoryNetwork()
    const a = network.endpoint('a')
    const b = network.endpoint('b')
    const log: string[] = []
    a.listen({ onFrame: (from, f) => log.push(`a<-${from}:${f[0]}`), onConnect: (p) => log.push(`a+${p}`), onDisconnect: (p) => log.push(`a-${p}`) })
    b.listen({ onFrame: (from, f) => log.push(`b<-${from}:${f[0]}`), onConnect: (p) => log.push(`b+${p}`), onDisconnect: (p) => log.push(`b-${p}`) })
    expect(a.send('b', new Uint8Array([0]))).toBe(false)
    network.connectAll()
    network.connect('a', 'b')
    network.connect('a', 'a')
    await flushMicrotasks()
    expect(a.connectedPeers()).toEqual(['b'])
    expect(a.send('b', new Uint8Array([1]))).toBe(true)
    expect(a.send('b', new Uint8Array([2]))).toBe(true)
    b.send('a', new Uint8Array([3]))
    await flushMicrotasks()
    a.disconnect('b')
    network.disconnect('a', 'b')
    await flushMicrotasks()
    expect(log).toEqual(['a+b', 'b+a', 'b<-a:1', 'b<-a:2', 'a<-b:3', 'a-b', 'b-a'])
    expect(() => network.endpoint('a')).toThrow(/already exists/)
    expect(() => network.connect('a', 'zzz')).toThrow(/unknown endpoint/)
  })

  it('drops frames in flight when the link goes down and stops a closed endpoint', async () => {
    const network = new MemoryNetwork()
    const a = network.endpoint('a')
    const b = network.endpoint('b')
    const got: number[] = []
    b.listen({ onFrame: (_f, frame) => got.push(frame[0]!), onConnect: () => {}, onDisconnect: () => {} })
    network.connect('a', 'b')
    a.send('b', new Uint8Array([1]))
    network.disconnect('a', 'b')
    await flushMicrotasks()
    expect(got).toEqual([])
    network.connect('a', 'b')
    a.close()
    a.close()
    expect(a.send('b', new Uint8Array([2]))).toBe(false)
    network.connect('a', 'b')
    await flushMicrotasks()
    expect(b.connectedPeers()).toEqual([])
  })
})
