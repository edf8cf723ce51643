import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { QmpSchemaFeatures, SchemaInfoListSchema } from '../../../src/qmp/schema-features.js';

/** Recorded with scripts/record-qmp-schema.js from Debian's QEMU 7.2 and bookworm-backports' 10.0. */
function recorded(version: string): QmpSchemaFeatures {
  const file = JSON.parse(fs.readFileSync(`fixtures/qmp/schema/qemu-${version}.json`, 'utf8')) as { schema: unknown };
  return new QmpSchemaFeatures(SchemaInfoListSchema.parse(file.schema));
}

describe('features from query-qmp-schema', () => {
  const q72 = recorded('7.2');
  const q100 = recorded('10.0');

  it('migrate-incoming takes exit-on-error on 10.0, not on 7.2', () => {
    expect(q72.commandHasArgument('migrate-incoming', 'uri')).toBe(true);
    expect(q72.commandHasArgument('migrate-incoming', 'exit-on-error')).toBe(false);
    expect(q100.commandHasArgument('migrate-incoming', 'exit-on-error')).toBe(true);
    expect(q100.commandHasArgument('no-such-command', 'uri')).toBe(false);
  });

  it('knows the migration capabilities each offers (switchover-ack since 8.1)', () => {
    expect(q72.migrationCapabilities()).toContain('pause-before-switchover');
    expect(q72.migrationCapabilities()).not.toContain('switchover-ack');
    expect(q100.migrationCapabilities()).toEqual(expect.arrayContaining(['pause-before-switchover', 'switchover-ack', 'mapped-ram', 'dirty-limit']));
    expect(q100.hasCommand('query-migrate')).toBe(true);
    expect(q100.hasCommand('MigrationCapability')).toBe(false);
  });
});
