import fs from 'node:fs';
import path from 'node:path';
import { describe, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.js';
import { parseInventory } from '../../../src/inventory/inventory.js';
import { bounded, FUZZ_TEST_TIMEOUT_MS, fuzzParameters, inputs } from './fuzz.js';

jest.setTimeout(FUZZ_TEST_TIMEOUT_MS);

const docs = fs.readFileSync(path.join(process.cwd(), 'docs', 'configuration.md'), 'utf8');
const DOCUMENTED = /```yaml\n([\s\S]*?)```/.exec(docs)?.[1] as string;
/** The shapes a user writes: the documented example, a flow-style lab inventory, JSON. */
const SEEDS = [
  DOCUMENTED,
  [
    'stateDir: ./state',
    "qmpExtensionPrefix: '__com.example_'",
    'hosts:',
    '  hostA: {kind: sim, runDir: ./a, migrationAddress: 10.0.0.1}',
    "  hostB: {kind: qemu, runDir: ./b, migrationAddress: '[2001:db8::2]', netns: nsb, accel: tcg}",
    'vms:',
    '  - {name: vm1, memoryMiB: 64, devices: [{type: vfio-i40evf, id: vf0, pf: enp1s0f0, vf: 3, vlan: 100}]}',
    '',
  ].join('\n'),
  JSON.stringify({ hosts: { hostA: { runDir: '/run/a' } }, vms: [{ name: 'vm1', memoryMiB: 128, memoryBackend: { type: 'file', path: '/dev/shm/{vm}' } }] }, null, 2),
].map((text) => Buffer.from(text));

describe('fuzz: the inventory loader', () => {
  it('never crashes or hangs on mutated and random inventories: an inventory, or a ConfigError', () => {
    fc.assert(
      fc.property(inputs(SEEDS, 2048), (bytes) => {
        bounded(() => parseInventory(bytes.toString('utf8'), '/fuzz/config.yaml', {}), [ConfigError]);
      }),
      fuzzParameters(400),
    );
  });
});
