import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { NetnsPair, netnsAvailable } from '../helpers/netns.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeEachQemu } from '../helpers/qemu.js';

jest.setTimeout(120_000);

const MIB = 64;

const canNetns = netnsAvailable();
if (!canNetns && process.env.CI === 'true') throw new Error('CI=true but network namespaces cannot be made here (needs root and iproute2)');
if (!canNetns) process.stderr.write('SKIPPED network-namespace hosts: cannot make network namespaces (needs root and iproute2)\n');

describeEachQemu('hosts as network namespaces: the same QEMU on each side, the stream over a veth link', (qemu) => {
  (canNetns ? describe : describe.skip)('two namespaces', () => {
    let pair: NetnsPair;
    let lab: QemuLab;
    beforeEach(() => {
      pair = new NetnsPair();
      lab = new QemuLab([{ name: 'vm1', memoryMiB: MIB, memoryBackend: { type: 'file', path: '{host}/{vm}.ram' } }], 'tcg', pair, { a: qemu.binary, b: qemu.binary });
    });
    afterEach(async () => {
      await lab.cleanup();
      pair.destroy();
    });

    it('migrates vm1 from hostA (192.0.2.1) to hostB (192.0.2.2): RAM equal, the stream crossed the link', async () => {
      await lab.startRunning('vm1', 'hostA', MIB).then((vm) => vm.monitor.client.destroy());
      const sourcePid = Number(fs.readFileSync(path.join(lab.dir, 'hostA', 'vm1.pid'), 'utf8'));
      expect(NetnsPair.namespaceOf(sourcePid)).toBe(pair.a);
      const receivedBefore = pair.receivedBytesB();
      let ramEqual = false;
      const migration = new Migration(
        { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: lab.specs.get('vm1') },
        {
          hosts: lab.hosts,
          strategy: new PlainStrategy(),
          journalDir: path.join(lab.dir, 'journal'),
          onEvent: () => undefined,
          atPhase: (phase) => {
            if (phase === 'resume') ramEqual = fs.readFileSync(lab.ramFile('hostA', 'vm1')).equals(fs.readFileSync(lab.ramFile('hostB', 'vm1')));
          },
        },
      );
      const summary = await migration.run();
      expect(summary.status).toBe('migrated');
      expect(ramEqual).toBe(true);
      const destinationPid = Number(fs.readFileSync(path.join(lab.dir, 'hostB', 'vm1.pid'), 'utf8'));
      expect(NetnsPair.namespaceOf(destinationPid)).toBe(pair.b);
      // The random RAM went over the veth into hostB's namespace.
      expect(pair.receivedBytesB() - receivedBefore).toBeGreaterThan((MIB << 20) * 0.9);
      expect(lab.livePids()).toEqual([destinationPid]);
    });
  });
});
