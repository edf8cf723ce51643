import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { QmpEventSchema } from '../../../src/qmp/events.js';
import {
  CommandInfoListSchema,
  MigrationCapabilityListSchema,
  MigrationInfoSchema,
  MigrationParametersSchema,
  StatusInfoSchema,
  VersionInfoSchema,
} from '../../../src/qmp/schemas.js';

const dir = path.join(process.cwd(), 'fixtures', 'qmp');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

const schemas: Record<string, z.ZodType> = {
  'query-version': VersionInfoSchema,
  'query-status': StatusInfoSchema,
  'query-commands': CommandInfoListSchema,
  'query-migrate': MigrationInfoSchema,
  'query-migrate-capabilities': MigrationCapabilityListSchema,
  'query-migrate-parameters': MigrationParametersSchema,
};

interface Entry {
  side: string;
  dir: 'sent' | 'received';
  message: Record<string, unknown>;
}

describe('recorded real-QEMU transcripts', () => {
  it('exist for every scenario the simulator is checked against', () => {
    expect(files).toEqual(
      expect.arrayContaining(['negotiation.json', 'stop-cont.json', 'error-classes.json', 'migration-pause-before-switchover.json', 'migration-cancel-active.json']),
    );
  });

  it.each(files)('%s: every command has exactly one reply, and our schemas accept what QEMU said', (file) => {
    const transcript = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { qemu: string; entries: Entry[] };
    expect(transcript.qemu).toMatch(/^7\.2\./);
    const sent = new Map<string, { side: string; name: string }>();
    const replied = new Set<string>();
    for (const { side, dir: direction, message } of transcript.entries) {
      if (direction === 'sent') {
        sent.set(`${side}/${String(message.id)}`, { side, name: String(message.execute) });
        continue;
      }
      if ('QMP' in message) continue;
      if ('event' in message) {
        expect(QmpEventSchema.safeParse(message).success).toBe(true);
        continue;
      }
      const key = `${side}/${String(message.id)}`;
      const command = sent.get(key);
      expect(command).toBeDefined();
      expect(replied.has(key)).toBe(false);
      replied.add(key);
      const schema = command && schemas[command.name];
      if (schema && 'return' in message) {
        const parsed = schema.safeParse(message.return);
        if (!parsed.success) throw new Error(`${file}: ${command.name} reply rejected: ${parsed.error.message}`);
      }
    }
    for (const key of sent.keys()) expect(replied).toContain(key);
  });
});
