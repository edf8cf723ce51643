import type { ConformanceTarget } from './targets.js';
import { RawQmpConnection } from './raw-qmp.js';

/**
 * Raw-protocol scenarios: bytes written as QEMU's Python client and qmp-shell write them (no
 * newline), QEMU's output kept as text. The simulator's lines must equal QEMU 7.2's byte for
 * byte, except what differs by nature: the version in the greeting and event timestamps.
 */
export interface RawScenario {
  name: string;
  run(target: ConformanceTarget): Promise<string[]>;
}

/** Version and package of the greeting, and event timestamps, replaced by placeholders. */
export function normalise(line: string): string {
  return line
    .replace(/"qemu": \{"micro": \d+, "minor": \d+, "major": \d+\}, "package": "(?:[^"\\]|\\.)*"/, '"qemu": {VERSION}, "package": PACKAGE')
    .replace(/\{"seconds": \d+, "microseconds": \d+\}/g, '{TIMESTAMP}');
}

const NEGOTIATE = '{"execute": "qmp_capabilities"}';

/** A paused VM (-S: no RESUME can race the greeting) and a raw connection past its greeting. */
async function open(target: ConformanceTarget, lines: string[]): Promise<RawQmpConnection> {
  return (await openVm(target, lines)).connection;
}

async function openVm(target: ConformanceTarget, lines: string[]): Promise<{ connection: RawQmpConnection; path: string }> {
  const vm = await target.start({ name: 'vm1', paused: true });
  const connection = await RawQmpConnection.open(vm.qmpPath);
  lines.push(normalise(await connection.next('the greeting')));
  return { connection, path: vm.qmpPath };
}

let syncCounter = 0;
/** Writes `input`, then a marker command, and returns every line up to the marker's reply. */
async function answerTo(connection: RawQmpConnection, input: string | Buffer, label: string): Promise<string[]> {
  const marker = `sync-${++syncCounter}`;
  connection.write(input);
  connection.write(`{"execute": "query-name", "id": "${marker}"}`);
  return (await connection.until(`"id": "${marker}"`, `the replies to ${label}`)).map((line) => line.replace(marker, 'SYNC'));
}

/** Inputs QEMU refuses, each with what it is (the list and the parser's faults). */
const REFUSED: [string, string | Buffer][] = [
  ['exec-oob without OOB negotiated', '{"exec-oob": "query-status", "id": 1}'],
  ['execute and exec-oob together, OOB not negotiated', '{"execute": "query-status", "exec-oob": "stop"}'],
  ['duplicate key', '{"execute": "query-status", "execute": "stop"}'],
  ['unknown member', '{"execute": "query-status", "control": 1}'],
  ['arguments null', '{"execute": "query-status", "arguments": null}'],
  ['arguments a list', '{"execute": "query-status", "arguments": [], "id": 2}'],
  ['no execute', '{"id": 3}'],
  ['execute not a string', '{"execute": 1}'],
  ['not an object', '[1, 2]'],
  ['a string', '"query-status"'],
  ['several faults: QEMU reports the first in its own member order', '{"execute": 1, "control": 1, "arguments": 2, "id": [1]}'],
  ['invalid keyword', '{"execute": foo}'],
  ['missing value', '{"execute": }'],
  ['trailing comma', '{"execute": "query-name",}'],
  ['missing colon', '{"execute" "query-name"}'],
  ['missing comma', '{"execute": "query-name" "id": 1}'],
  ['key not a string', '{1: 2}'],
  ['stray closing bracket', ']'],
  ['invalid escape', '{"execute": "query-name", "id": "x\\q"}'],
  ['lone surrogate escape', '{"execute": "query-name", "id": "\\ud800"}'],
  ['invalid UTF-8 (0xFF) in a string', Buffer.from('{"execute": "query-\xffstatus"}', 'latin1')],
  ['invalid UTF-8 (overlong) in a string', Buffer.from('7b2265786563757465223a2022717565727922c0af7d', 'hex')],
  ['a control character in a string', '{"execute": "query-name", "id": "a\tb"}'],
  ['a byte 0xFF between commands (a client forcing resynchronisation)', Buffer.from([0xff])],
  ['an unknown command', '{"execute": "no-such-command", "id": 4}'],
  ['an unexpected argument', '{"execute": "query-status", "arguments": {"x": 1}}'],
  ['ids of every type echoed as given', '{"execute": "query-name", "id": {"b": [1, 2.5, -0, 1e3, 18446744073709551615, "\\u00e9\\ud83d\\ude00", null, true]}}'],
  ['an id nested 1,100 deep', `{"execute": "query-status", "id": ${'['.repeat(1100)}${']'.repeat(1100)}}`],
];

export const rawScenarios: RawScenario[] = [
  {
    name: 'negotiation and commands without a newline',
    async run(target) {
      const lines: string[] = [];
      const connection = await open(target, lines);
      try {
        connection.write('{"execute": "query-status"}');
        lines.push(await connection.next('the reply before negotiation'));
        connection.write('{"exec-oob": "query-status"}');
        lines.push(await connection.next('the reply to exec-oob before negotiation'));
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to qmp_capabilities'));
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to a second qmp_capabilities'));
        connection.write('{"execute": "query-status", "id": 1}');
        lines.push(await connection.next('the reply to query-status'));
        return lines;
      } finally {
        connection.close();
      }
    },
  },
  {
    name: 'two commands on one line, and one split over three writes',
    async run(target) {
      const lines: string[] = [];
      const connection = await open(target, lines);
      try {
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to qmp_capabilities'));
        connection.write('{"execute": "query-status", "id": "a"}{"execute": "query-name", "id": "b"}\n');
        lines.push(await connection.next('the first of two replies'), await connection.next('the second of two replies'));
        await connection.writeSlowly('{"execute": "query-status", "arguments": {}, "id": 3}', 3, 100);
        lines.push(await connection.next('the reply to a command split over three writes'));
        // Numbers and keywords end only at the next character; whitespace and newlines are free.
        connection.write('\r\n  {"execute":\n"query-name",\t"id":42}   ');
        lines.push(await connection.next('the reply to a command with whitespace inside'));
        return lines;
      } finally {
        connection.close();
      }
    },
  },
  {
    name: 'refused input gets QEMU replies, and the stream recovers after each',
    async run(target) {
      const lines: string[] = [];
      const connection = await open(target, lines);
      try {
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to qmp_capabilities'));
        for (const [label, input] of REFUSED) {
          const replies = await answerTo(connection, input, label);
          lines.push(`# ${label}: ${replies.length - 1} replies`, ...replies);
        }
        return lines;
      } finally {
        connection.close();
      }
    },
  },
  {
    name: 'out-of-band requests once OOB is negotiated',
    async run(target) {
      const lines: string[] = [];
      const connection = await open(target, lines);
      try {
        connection.write('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}');
        lines.push(await connection.next('the reply to qmp_capabilities with oob'));
        const inputs = [
          '{"exec-oob": "query-status", "id": 1}',
          '{"execute": "query-status", "exec-oob": "stop"}',
          '{"exec-oob": "stop", "execute": "query-status"}',
          '{"exec-oob": "no-such-command", "id": 2}',
          '{"exec-oob": 1}',
        ];
        for (const input of inputs) lines.push(...(await answerTo(connection, input, input)));
        return lines;
      } finally {
        connection.close();
      }
    },
  },
  {
    name: 'events in QEMU bytes, a reconnect starts over, and quit says SHUTDOWN first',
    async run(target) {
      const lines: string[] = [];
      const opened = await openVm(target, lines);
      let connection = opened.connection;
      try {
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to qmp_capabilities'));
        connection.write('{"execute": "cont"}');
        lines.push(...(await connection.until('"return"', 'RESUME and the reply to cont')).map(normalise));
        connection.write('{"execute": "stop"}');
        lines.push(...(await connection.until('"return"', 'STOP and the reply to stop')).map(normalise));
        connection.close();
        connection = await RawQmpConnection.open(opened.path);
        lines.push(normalise(await connection.next('the greeting after a reconnect')));
        connection.write('{"execute": "query-status"}');
        lines.push(await connection.next('the reply before negotiating again'));
        connection.write(NEGOTIATE);
        lines.push(await connection.next('the reply to qmp_capabilities again'));
        connection.write('{"execute": "query-status"}');
        lines.push(await connection.next('query-status after the reconnect'));
        connection.write('{"execute": "quit"}');
        lines.push(...(await connection.until('"return"', 'SHUTDOWN and the reply to quit')).map(normalise));
        return lines;
      } finally {
        connection.close();
      }
    },
  },
];
