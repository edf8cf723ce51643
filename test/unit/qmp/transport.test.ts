import { describe, expect, it } from '@jest/globals';
import { formatEndpoint, parseEndpoint } from '../../../src/qmp/transport.js';
import { DEFAULT_EXTENSION_PREFIX, QemuMonitor, validateExtensionPrefix } from '../../../src/qmp/monitor.js';

describe('QMP endpoints', () => {
  it.each([
    ['unix:/run/nicmig/vm1.qmp', { kind: 'unix', path: '/run/nicmig/vm1.qmp' }],
    ['tcp:192.0.2.10:4444', { kind: 'tcp', host: '192.0.2.10', port: 4444 }],
    ['tcp:hostb.example:4444', { kind: 'tcp', host: 'hostb.example', port: 4444 }],
    ['tcp:[::1]:4444', { kind: 'tcp', host: '::1', port: 4444 }],
  ])('parses %s', (text, expected) => {
    expect(parseEndpoint(text)).toEqual(expected);
    expect(formatEndpoint(parseEndpoint(text))).toBe(text);
  });

  it.each(['unix:', 'tcp:host', 'tcp:host:0', 'tcp:host:70000', '/run/vm1.qmp', 'http://x'])('refuses %s with a usage error', (text) => {
    expect(() => parseEndpoint(text)).toThrow(expect.objectContaining({ code: 'BAD_ENDPOINT', exitCode: 2 }));
  });
});

describe('extension prefix', () => {
  it('names extension commands with the configured prefix', () => {
    const monitor = new QemuMonitor({} as never, { extensionPrefix: '__com.example_' });
    expect(monitor.extensionName('i40evf-list')).toBe('__com.example_i40evf-list');
    expect(new QemuMonitor({} as never).extensionName('x')).toBe(`${DEFAULT_EXTENSION_PREFIX}x`);
  });

  it.each(['__com.example_', 'x-', ''])('accepts %p', (prefix) => expect(validateExtensionPrefix(prefix)).toBe(prefix));
  it.each(['com.example', '__com.example', '__ bad_', 'rm -rf'])('refuses %p', (prefix) => {
    expect(() => validateExtensionPrefix(prefix)).toThrow(expect.objectContaining({ code: 'BAD_EXTENSION_PREFIX' }));
  });
});
