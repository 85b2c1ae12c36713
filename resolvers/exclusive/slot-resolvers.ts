import type { Intent, WorldDoc, WorldValue } from '../../core/index.js'
import { accept, refuse, type ActionContext } from '../action-handler.js'
import { payloadField } from '../anticheat/index.js'
import type { ActionResolver } from './resolver.js'

/** The component a claimable slot (spawn point, seat, build plot) keeps its claim in. */
export const SLOT_COMPONENT = 'slot'

/** The resource id of a slot entity, as ownership sees it. */
export const slotResource = (slot: string): string => `slot:${slot}`

/** Who holds a slot (undefined: free) and how many claims and releases it has seen. */
export interface SlotState {
  readonly holder: string | undefined
  readonly version: number
}

/** Creates a free slot entity of the given kind. */
export const createSlot = (world: WorldDoc, slot: string, kind = 'slot'): void => {
  world.createEntity(slot, kind, { [SLOT_COMPONENT]: { holder: '', version: 0 } })
}

/** A slot's state, or undefined when the entity has no slot component. */
export const readSlot = (world: WorldDoc, slot: string): SlotState | undefined => {
  const fields = world.getComponent(slot, SLOT_COMPONENT)
  if (fields === undefined) return undefined
  const holder = typeof fields.holder === 'string' && fields.holder.length > 0 ? fields.holder : undefined
  const version = typeof fields.version === 'number' && Number.isSafeInteger(fields.version) ? fields.version : 0
  return { holder, version }
}

const slotOf = (intent: Intent): string | undefined => {
  const value = payloadField(intent.payload, 'slot')
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

const slotState = ({ world, intent }: ActionContext): WorldValue => {
  const slot = slotOf(intent) ?? ''
  const state = readSlot(world, slot)
  return state === undefined ? { slot, exists: false } : { slot, exists: true, holder: state.holder ?? null, version: state.version }
}

const common = {
  kind: 'exclusive' as const,
  resources: (intent: Intent) => {
    const slot = slotOf(intent)
    return slot === undefined ? [] : [slotResource(slot)]
  },
  versionOf: ({ world, intent }: ActionContext) => readSlot(world, slotOf(intent) ?? '')?.version,
  currentState: slotState,
}

/** Unique claim of a slot or spawn point: one winner; a held slot refuses with `conflict` until released. */
export const claimSlotResolver = (action = 'claim-slot'): ActionResolver => ({
  action,
  ...common,
  validate: ({ world, intent }) => {
    const state = readSlot(world, slotOf(intent) ?? '')
    if (state === undefined) return refuse('invalid-intent', 'payload.slot must name a slot entity')
    return state.holder === undefined ? accept() : refuse('conflict', `slot is held by ${state.holder}`)
  },
  apply: ({ world, intent }) => {
    const slot = slotOf(intent) as string
    const state = readSlot(world, slot) as SlotState
    world.setComponent(slot, SLOT_COMPONENT, { holder: intent.player, version: state.version + 1 })
    return { slot, version: state.version + 1 }
  },
})

/** Giving a slot up; only its holder may. */
export const releaseSlotResolver = (action = 'release-slot'): ActionResolver => ({
  action,
  ...common,
  validate: ({ world, intent }) => {
    const state = readSlot(world, slotOf(intent) ?? '')
    if (state === undefined) return refuse('invalid-intent', 'payload.slot must name a slot entity')
    return state.holder === intent.player ? accept() : refuse('not-permitted', 'only the holder may release a slot')
  },
  apply: ({ world, intent }) => {
    const slot = slotOf(intent) as string
    const state = readSlot(world, slot) as SlotState
    world.setComponent(slot, SLOT_COMPONENT, { holder: '', version: state.version + 1 })
    return { slot, version: state.version + 1 }
  },
})
