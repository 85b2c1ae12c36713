import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame, wireLinkLatency, type LinkReport } from '../../core/index.js'
import { FULL_LINK_REPORT_EVERY, LinkReportLedger } from '../../replication/link-report-ledger.js'
import { LatencyMap, quantizeLatency } from '../../replication/latency-map.js'

const links = (entries: Record<string, number | null>): LinkReport[] => Object.entries(entries).map(([peer, oneWayMs]) => ({ peer, oneWayMs }))

describe('LinkReportLedger', () => {
  it('sends the whole report first, then only the links whose bucket moved once the peer answered', () => {
    const ledger = new LinkReportLedger()
    const first = ledger.compose('p', 1, links({ a: 10, b: 20 }))
    expect(first).toEqual({ full: true, links: links({ a: 10, b: 20 }) })
    ledger.answered('p', 1)
    // 10.2 ms is in 10's bucket: nothing worth sending.
    expect(ledger.compose('p', 2, links({ a: 10.2, b: 20 }))).toEqual({ full: false, links: [] })
    ledger.answered('p', 2)
    expect(ledger.compose('p', 3, links({ a: 10.2, b: 30 }))).toEqual({ full: false, links: links({ b: 30 }) })
  })

  it('repeats what an unanswered ping carried, and ignores answers older than the newest', () => {
    const ledger = new LinkReportLedger()
    ledger.compose('p', 1, links({ a: 10 }))
    ledger.answered('p', 1)
    ledger.compose('p', 2, links({ a: 50 })) // lost
    expect(ledger.compose('p', 3, links({ a: 10 })).links).toEqual(links({ a: 10 }))
    ledger.answered('p', 3)
    ledger.answered('p', 2) // late answer of an older ping: must not roll the peer's view back
    expect(ledger.compose('p', 4, links({ a: 10 })).links).toEqual([])
  })

  it('goes whole when a link went away, every few pings, and after the connection dropped', () => {
    const ledger = new LinkReportLedger()
    let nonce = 0
    ledger.compose('p', ++nonce, links({ a: 10, b: 20 }))
    ledger.answered('p', nonce)
    expect(ledger.compose('p', ++nonce, links({ a: 10 })).full).toBe(true)
    ledger.answered('p', nonce)
    const kinds: boolean[] = []
    for (let i = 0; i < FULL_LINK_REPORT_EVERY; i++) {
      kinds.push(ledger.compose('p', ++nonce, links({ a: 10 })).full)
      ledger.answered('p', nonce)
    }
    expect(kinds.filter(Boolean)).toHaveLength(1)
    ledger.forget('p')
    expect(ledger.compose('p', ++nonce, links({ a: 10 })).full).toBe(true)
  })

  it('repeats the whole report until one is answered, and says a link that came and went is down', () => {
    const ledger = new LinkReportLedger()
    ledger.compose('p', 1, links({ a: 10 }))
    expect(ledger.compose('p', 2, links({ a: 10 })).full).toBe(true) // the first is unanswered
    ledger.answered('p', 2)
    ledger.compose('p', 3, links({ a: 10, b: 5 })) // names b, unanswered
    // b is gone again; the peer may hold it from ping 3, so it hears b is down.
    expect(ledger.compose('p', 4, links({ a: 10 }))).toEqual({ full: false, links: links({ b: null }) })
  })

  it('keeps the receiver exact under lost pings and pongs (property)', () => {
    const step = fc.record({
      changes: fc.array(fc.record({ peer: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.option(fc.oneof(fc.double({ min: 0.2, max: 300, noNaN: true }), fc.constantFrom(7.75, 7.76, 7.79, 7.8, 7.81)), { nil: undefined, freq: 3 }), down: fc.boolean() }), { maxLength: 3 }),
      pingLost: fc.boolean(),
      pongLost: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const ledger = new LinkReportLedger()
        const receiver = new LatencyMap()
        const current = new Map<string, number | null>([['a', 10]])
        let nonce = 0
        for (const { changes, pingLost, pongLost } of steps) {
          for (const change of changes) {
            if (change.value === undefined) current.delete(change.peer)
            else current.set(change.peer, change.down ? null : change.value)
          }
          const report = ledger.compose('r', ++nonce, [...current].map(([peer, oneWayMs]) => ({ peer, oneWayMs })))
          if (pingLost) continue
          // Through the codec, as a peer receives it: the wire rounds latencies to tenths of a ms.
          const ping = decodeFrame(encodeFrame({ type: 'ping', nonce, coordinate: { x: 0, y: 0, height: 0, error: 0 }, full: report.full, links: report.links }))
          if (ping.type !== 'ping') throw new Error('not a ping')
          receiver.report('s', ping.links, ping.full)
          // Whatever got through, the receiver now sees exactly our current links.
          for (const peer of ['a', 'b', 'c', 'd', 'e']) {
            const value = current.get(peer)
            const seen = receiver.oneWay('s', peer, -1)
            if (value === undefined) expect([-1, Infinity]).toContain(seen)
            else expect(seen).toBe(value === null ? Infinity : quantizeLatency(wireLinkLatency(value)))
          }
          if (!pongLost) ledger.answered('r', nonce)
        }
      }),
      { numRuns: 300 },
    )
  })
})
