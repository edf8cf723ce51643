/**
 * A fresh VF as the i40e PF sees it: apply one request, get the PF's status, its reply and
 * the VF's next state. The simulated PF and the property tests ("the plan rebuilds the
 * state") use it; it shares `applyAccepted` with the reducer.
 */
import { VirtchnlError } from './errors.js';
import { defaultRssHena, grantCapabilities, resolveFacts, type DestinationFacts, type ResolvedFacts } from './facts.js';
import { encodeReply, type PfReply, type VfRequest } from './messages.js';
import { Cap, EventCode, EventSeverity, I40E, Op, Status, VSI_TYPE_SRIOV } from './opcodes.js';
import { applyAccepted, cloneVfState, type VfState } from './state.js';
import { validateVfRequest, type VfRequestContext } from './validate.js';

export interface PfOutcome {
  state: VfState;
  /** virtchnl status of the reply (SUCCESS also when there is no reply) */
  status: number;
  /** reply payload; null when the PF sends none (RESET_VF, a granted REQUEST_QUEUES) */
  reply: Buffer | null;
  /** why the PF refused, when it did */
  error: VirtchnlError | null;
  /** the PF reset the VF; it sends EVENT RESET_IMPENDING (see resetImpendingEvent) */
  reset: boolean;
}

/** What the PF checks a request against, from the VF's state and the PF's policy. */
export function requestContext(state: VfState, facts: DestinationFacts | ResolvedFacts): VfRequestContext {
  const f = resolveFacts(facts);
  return {
    active: state.active,
    vsiId: state.resources?.vsiId ?? f.vsiId,
    numQueuePairs: state.resources?.numQueuePairs ?? 0,
    maxVectors: state.resources?.maxVectors ?? f.maxVectors,
    apiVersion: state.vfVersion ?? { major: 1, minor: 0 },
    trusted: f.trusted,
    maxMacFilters: f.maxMacFilters,
    maxVlanFilters: f.maxVlanFilters,
    hostMac: f.hostMac ?? null,
    portVlan: f.portVlan ?? null,
    rssKeySize: state.resources?.rssKeySize ?? f.rssKeySize,
    rssLutSize: state.resources?.rssLutSize ?? f.rssLutSize,
    macs: state.macs,
    vlans: state.vlans,
  };
}

/** Applies one VF -> PF message to a VF under `facts`; pure: `state` is not modified. */
export function applyVfRequest(state: VfState, opcode: number, payload: Uint8Array, facts: DestinationFacts): PfOutcome {
  const f = resolveFacts(facts);
  const checked = validateVfRequest(opcode, payload, requestContext(state, f));
  if (!checked.ok) return { state, status: checked.error.status, reply: Buffer.alloc(0), error: checked.error, reset: false };
  const request = checked.request;
  const next = cloneVfState(state);

  if (request.opcode === Op.REQUEST_QUEUES && 'numQueuePairs' in request) {
    const wanted = request.numQueuePairs;
    if (wanted === 0 || wanted > Math.min(f.numQueuePairs, I40E.MAX_VF_QUEUES)) {
      // Refused: the PF offers what it can, with SUCCESS, and does not reset.
      const offer = encodeReply({ opcode: Op.REQUEST_QUEUES, numQueuePairs: Math.min(f.numQueuePairs, I40E.MAX_VF_QUEUES) });
      return { state, status: Status.SUCCESS, reply: offer, error: null, reset: false };
    }
    applyAccepted(next, request, null);
    return { state: next, status: Status.SUCCESS, reply: null, error: null, reset: true };
  }
  // An untrusted VF's promiscuous request: i40e lies on purpose, SUCCESS and nothing
  // applied; the state keeps what was asked (applyAccepted with trusted: false).
  const reply = replyFor(request, next, f);
  applyAccepted(next, request, reply, { trusted: f.trusted });
  if (request.opcode === Op.RESET_VF) return { state: next, status: Status.SUCCESS, reply: null, error: null, reset: true };
  return { state: next, status: Status.SUCCESS, reply: reply ? encodeReply(reply) : Buffer.alloc(0), error: null, reset: false };
}

function replyFor(request: VfRequest, state: VfState, f: ResolvedFacts): PfReply | null {
  switch (request.opcode) {
    case Op.VERSION:
      return { opcode: Op.VERSION, version: { ...f.apiVersion } };
    case Op.GET_VF_RESOURCES: {
      const asked = 'caps' in request ? request.caps : null;
      const queuePairs = Math.min(state.requestedQueuePairs ?? f.defaultQueuePairs, f.numQueuePairs);
      return {
        opcode: Op.GET_VF_RESOURCES,
        resource: {
          numQueuePairs: queuePairs,
          maxVectors: f.maxVectors,
          maxMtu: f.maxMtu,
          vfCapFlags: grantCapabilities(asked, f.device, { portVlan: f.portVlan, supported: f.supportedCaps }),
          rssKeySize: f.rssKeySize,
          rssLutSize: f.rssLutSize,
          vsis: [{ vsiId: f.vsiId, numQueuePairs: queuePairs, vsiType: VSI_TYPE_SRIOV, qsetHandle: f.vsiId, defaultMacAddr: f.hostMac?.toLowerCase() ?? '00:00:00:00:00:00' }],
        },
      };
    }
    case Op.GET_RSS_HENA_CAPS:
      return { opcode: Op.GET_RSS_HENA_CAPS, hena: defaultRssHena(f.device) };
    case Op.GET_STATS:
      return {
        opcode: Op.GET_STATS,
        stats: {
          rxBytes: 0n,
          rxUnicast: 0n,
          rxMulticast: 0n,
          rxBroadcast: 0n,
          rxDiscards: 0n,
          rxUnknownProtocol: 0n,
          txBytes: 0n,
          txUnicast: 0n,
          txMulticast: 0n,
          txBroadcast: 0n,
          txDiscards: 0n,
          txErrors: 0n,
        },
      };
    default:
      return null;
  }
}

/** The EVENT the PF sends before it resets a VF. */
export function resetImpendingEvent(): Buffer {
  return encodeReply({ opcode: Op.EVENT, event: { event: EventCode.RESET_IMPENDING, linkSpeed: 0, linkStatus: 0, severity: EventSeverity.CERTAIN_DOOM } });
}

/** A link-change EVENT (link_speed as virtchnl_link_speed bits, e.g. 0x10 = 40G). */
export function linkChangeEvent(up: boolean, linkSpeed = 0x10): Buffer {
  return encodeReply({ opcode: Op.EVENT, event: { event: EventCode.LINK_CHANGE, linkSpeed: up ? linkSpeed : 0, linkStatus: up ? 1 : 0, severity: EventSeverity.INFO } });
}

/**
 * The link EVENT i40e sends a VF (i40e_set_vf_link_state): to a VF that asked for
 * ADV_LINK_SPEED the speed in Mbps (event_data.link_event_adv), to any other the
 * virtchnl_link_speed bit (link_event); same bytes at the same offsets otherwise.
 */
export function vfLinkStateEvent(state: VfState, up: boolean, speedMbps = 40_000): Buffer {
  const adv = ((state.requestedCaps ?? 0) & Cap.ADV_LINK_SPEED) !== 0;
  return linkChangeEvent(up, adv ? speedMbps : (LINK_SPEED_BITS[speedMbps] ?? 0));
}

/** enum virtchnl_link_speed, by Mbps */
const LINK_SPEED_BITS: Readonly<Record<number, number>> = { 100: 0x2, 1_000: 0x4, 10_000: 0x8, 40_000: 0x10, 20_000: 0x20, 25_000: 0x40, 2_500: 0x80, 5_000: 0x100 };
