/**
 * The guest keeps the vsi_id the source PF gave it; the destination VF has another. The
 * patched device rewrites every vsi_id of the guest's (and the replay's) requests from the
 * guest's VSI to the VF's, and the VSI in a GET_VF_RESOURCES reply back, so the guest never
 * sees the change (the 2015 vfio-i40evf prototype did the same). Messages that do not decode
 * pass unchanged: the PF refuses them as it would have anyway.
 */
import { decodeReply, decodeRequest, encodeReply, encodeRequest, type PfReply, type VfRequest } from '../../vfio/messages.js';
import { Op } from '../../vfio/opcodes.js';

function mapId(id: number, from: number, to: number): number {
  return id === from ? to : id;
}

function mapRequest(request: VfRequest, from: number, to: number): VfRequest {
  if ('opaque' in request) return request;
  const m = (id: number): number => mapId(id, from, to);
  switch (request.opcode) {
    case Op.CONFIG_VSI_QUEUES:
      return { ...request, vsiId: m(request.vsiId), queuePairs: request.queuePairs.map((p) => ({ txq: { ...p.txq, vsiId: m(p.txq.vsiId) }, rxq: { ...p.rxq, vsiId: m(p.rxq.vsiId) } })) };
    case Op.CONFIG_IRQ_MAP:
      return { ...request, vectors: request.vectors.map((v) => ({ ...v, vsiId: m(v.vsiId) })) };
    case Op.CONFIG_TX_QUEUE:
      return { ...request, txq: { ...request.txq, vsiId: m(request.txq.vsiId) } };
    case Op.CONFIG_RX_QUEUE:
      return { ...request, rxq: { ...request.rxq, vsiId: m(request.rxq.vsiId) } };
    default:
      return 'vsiId' in request ? { ...request, vsiId: m(request.vsiId) } : request;
  }
}

/** The request's payload with vsi_id `from` rewritten to `to`. */
export function mapRequestVsi(opcode: number, payload: Uint8Array, from: number, to: number): Buffer {
  if (from === to) return Buffer.from(payload);
  try {
    const request = decodeRequest(opcode, payload);
    if ('opaque' in request) return Buffer.from(payload);
    return encodeRequest(mapRequest(request, from, to));
  } catch {
    return Buffer.from(payload);
  }
}

/** The reply's payload as the guest should see it: the VF's VSI shown as the guest's. */
export function mapReplyVsi(opcode: number, payload: Uint8Array, vfVsi: number, guestVsi: number): Buffer {
  if (opcode !== Op.GET_VF_RESOURCES || vfVsi === guestVsi || payload.length === 0) return Buffer.from(payload);
  try {
    const reply = decodeReply(opcode, payload) as PfReply;
    if (!('resource' in reply)) return Buffer.from(payload);
    const vsis = reply.resource.vsis.map((v) => ({ ...v, vsiId: mapId(v.vsiId, vfVsi, guestVsi), qsetHandle: mapId(v.qsetHandle, vfVsi, guestVsi) }));
    return encodeReply({ ...reply, resource: { ...reply.resource, vsis } });
  } catch {
    return Buffer.from(payload);
  }
}
