import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { describeRecord, formatRecordLine, type RecordDescription } from '../../vfio/describe-record.js';
import { readCaptureFile } from '../../vfio/read-capture.js';

export default class VfDecode extends BaseCommand<typeof VfDecode> {
  static override summary = 'Decode an admin-queue capture: one line per virtchnl message.';

  static override description = `Prints every record of a capture (I40EAQ01 format, docs/capture-format.md) in time order: its index, the time since the first record, the direction, the virtchnl opcode, the PF's status on replies, and the decoded fields. With --json, one document {records: [...]} whose records carry the same facts (64-bit values as "0x..." strings). A damaged capture prints the records before the damage, then fails (exit 4) naming the file, the record index and the byte offset.`;

  static override examples = [
    '<%= config.bin %> vf decode fixtures/captures/iavf-init.cap',
    '<%= config.bin %> vf decode vm1-vf0.cap --json | jq \'.records[] | select(.status != null and .status != 0)\'',
  ];

  static override args = {
    capture: Args.string({ description: 'capture file (I40EAQ01), a FIFO, or - for standard input', required: true }),
  };

  public async run(): Promise<unknown> {
    const { records, error } = await readCaptureFile(this.args.capture);
    const first = records[0]?.timestampNs ?? 0n;
    const described: RecordDescription[] = [];
    for (const record of records) {
      const d = describeRecord(record, first);
      if (this.jsonEnabled()) described.push(d);
      else this.out(formatRecordLine(d));
    }
    if (error) {
      if (!this.jsonEnabled()) throw error;
      // Under --json the records before the damage still go out, with the error beside them.
      process.exitCode = error.exitCode;
      return { status: 'error', records: described, error: error.toJSON() };
    }
    return { records: described };
  }
}
