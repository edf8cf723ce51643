/**
 * Ethernet frames on the simulated network: 802.3 header, an optional 802.1Q tag, and the
 * two payloads the simulator sends itself (traffic probes and QEMU's announce RARP). Pure.
 */
import { formatMac, writeMac } from '../../vfio/wire.js';

export const EtherType = {
  VLAN: 0x8100,
  ARP: 0x0806,
  /** QEMU's announce-self sends RARP (qemu_announce_self_iter) */
  RARP: 0x8035,
  /** IEEE local experimental: the traffic probes */
  PROBE: 0x88b5,
} as const;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const MIN_FRAME = 60;

export interface EthernetFrame {
  dst: string;
  src: string;
  /** 802.1Q VLAN id, null when untagged */
  vlan: number | null;
  etherType: number;
  payload: Buffer;
}

export function encodeFrame(frame: EthernetFrame): Buffer {
  const header = frame.vlan === null ? 14 : 18;
  const out = Buffer.alloc(Math.max(MIN_FRAME, header + frame.payload.length));
  writeMac(out, 0, frame.dst);
  writeMac(out, 6, frame.src);
  if (frame.vlan === null) {
    out.writeUInt16BE(frame.etherType, 12);
  } else {
    out.writeUInt16BE(EtherType.VLAN, 12);
    out.writeUInt16BE(frame.vlan & 0xfff, 14);
    out.writeUInt16BE(frame.etherType, 16);
  }
  frame.payload.copy(out, header);
  return out;
}

/** Decodes a frame; null when it is shorter than a header. The payload keeps the padding. */
export function decodeFrame(bytes: Uint8Array): EthernetFrame | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 14) return null;
  const dst = formatMac(b, 0);
  const src = formatMac(b, 6);
  const type = b.readUInt16BE(12);
  if (type === EtherType.VLAN) {
    if (b.length < 18) return null;
    return { dst, src, vlan: b.readUInt16BE(14) & 0xfff, etherType: b.readUInt16BE(16), payload: Buffer.from(b.subarray(18)) };
  }
  return { dst, src, vlan: null, etherType: type, payload: Buffer.from(b.subarray(14)) };
}

/** Adds or replaces the 802.1Q tag (a port VLAN on transmit). */
export function withVlan(frame: Buffer, vlan: number | null): Buffer {
  const decoded = decodeFrame(frame);
  if (!decoded) return frame;
  return encodeFrame({ ...decoded, vlan });
}

export function isMulticast(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** The RARP request QEMU's announce-self sends for a MAC (qemu_announce_self_iter). */
export function rarpAnnounce(mac: string, vlan: number | null): Buffer {
  const payload = Buffer.alloc(28);
  payload.writeUInt16BE(1, 0); // hardware type: ethernet
  payload.writeUInt16BE(0x0800, 2); // protocol type: IPv4
  payload.writeUInt8(6, 4);
  payload.writeUInt8(4, 5);
  payload.writeUInt16BE(3, 6); // opcode: reverse request
  writeMac(payload, 8, mac); // source hardware address
  writeMac(payload, 18, mac); // target hardware address
  return encodeFrame({ dst: BROADCAST_MAC, src: mac, vlan, etherType: EtherType.RARP, payload });
}

// ------------------------------------------------------------------ traffic probes

const PROBE_MAGIC = 0x4e4d5052; // "NMPR"
export const PROBE_SIZE = 24;

export interface Probe {
  stream: number;
  sequence: number;
  /** sender's clock, ms (performance.now) */
  sentAt: number;
}

export function encodeProbe(probe: Probe): Buffer {
  const b = Buffer.alloc(PROBE_SIZE);
  b.writeUInt32BE(PROBE_MAGIC, 0);
  b.writeUInt32BE(probe.stream >>> 0, 4);
  b.writeBigUInt64BE(BigInt(probe.sequence), 8);
  b.writeDoubleBE(probe.sentAt, 16);
  return b;
}

export function decodeProbe(payload: Buffer): Probe | null {
  if (payload.length < PROBE_SIZE || payload.readUInt32BE(0) !== PROBE_MAGIC) return null;
  return { stream: payload.readUInt32BE(4), sequence: Number(payload.readBigUInt64BE(8)), sentAt: payload.readDoubleBE(16) };
}
