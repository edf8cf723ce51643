import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { aclFileOf, bridgeHelperFacts, parseBridgeConf, readBridgeAcl } from '../../../src/hosts/bridge-helper.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-bridge-helper-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function files(map: Record<string, string>): (file: string) => Promise<string> {
  return async (file) => {
    const text = map[file];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${file}'`);
    return text;
  };
}

describe("qemu-bridge-helper's ACL file, parsed as the helper parses it", () => {
  it('skips blank lines and comments; allow, deny, include; the first bad line ends it', () => {
    expect(parseBridgeConf('# bridges\n\n  allow br0\ndeny\tbr1  \ninclude /etc/qemu/more.conf\nallow all\n')).toEqual({
      entries: [
        { kind: 'allow', name: 'br0' },
        { kind: 'deny', name: 'br1' },
        { kind: 'include', file: '/etc/qemu/more.conf' },
        { kind: 'allow', name: 'all' },
      ],
    });
    expect(parseBridgeConf('allow br0\npermit br1\nallow br2\n')).toEqual({ entries: [{ kind: 'allow', name: 'br0' }], error: "line 2: unknown command 'permit'" });
    expect(parseBridgeConf('allowbr0\n').error).toBe("line 1: invalid config line 'allowbr0'");
    expect(parseBridgeConf('allow a-bridge-of-16-ch\n').error).toBe("line 1: name 'a-bridge-of-16-ch' too long");
  });

  it('follows includes; an include that cannot be read is skipped, a bad one counts up to its bad line', async () => {
    const acl = await readBridgeAcl(
      '/etc/qemu/bridge.conf',
      files({
        '/etc/qemu/bridge.conf': 'allow br0\ninclude /etc/qemu/missing.conf\ninclude /etc/qemu/team.conf\ninclude /etc/qemu/broken.conf\n',
        '/etc/qemu/team.conf': 'allow br1\ndeny br2\n',
        '/etc/qemu/broken.conf': 'allow br3\nbogus\nallow br4\n',
      }),
    );
    expect(acl).toEqual({ file: '/etc/qemu/bridge.conf', allowAll: false, denyAll: false, allow: ['br0', 'br1', 'br3'], deny: ['br2'] });
  });

  it('a main file that cannot be read or parsed fails: the helper then refuses every bridge', async () => {
    await expect(readBridgeAcl('/etc/qemu/bridge.conf', files({}))).rejects.toThrow("cannot read /etc/qemu/bridge.conf: ENOENT: no such file or directory, open '/etc/qemu/bridge.conf'");
    await expect(readBridgeAcl('/etc/qemu/bridge.conf', files({ '/etc/qemu/bridge.conf': 'allow br0\nnope\n' }))).rejects.toThrow("/etc/qemu/bridge.conf line 2: invalid config line 'nope'");
  });

  it('an include loop ends', async () => {
    const acl = await readBridgeAcl('/a.conf', files({ '/a.conf': 'allow br0\ninclude /a.conf\n' }));
    expect(acl.allow.every((name) => name === 'br0')).toBe(true);
  });

  it('finds the ACL path compiled into the helper binary, else the usual one', () => {
    const binary = path.join(dir, 'helper');
    fs.writeFileSync(binary, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from('access denied by acl file\0/usr/local/etc/qemu/bridge.conf\0more\0')]));
    expect(aclFileOf(binary)).toBe('/usr/local/etc/qemu/bridge.conf');
    fs.writeFileSync(binary, 'no path here');
    expect(aclFileOf(binary)).toBe('/etc/qemu/bridge.conf');
  });

  it('a configured helper that is not there is a problem naming it; a found one reports its ACL', async () => {
    const missing = await bridgeHelperFacts(path.join(dir, 'nope'), 'qemu-system-x86_64', files({}));
    expect(missing).toEqual({ path: null, problems: [`no qemu-bridge-helper ('${path.join(dir, 'nope')}' does not exist or is not an executable file)`], acl: null });
    const helper = path.join(dir, 'qemu-bridge-helper');
    fs.writeFileSync(helper, Buffer.from('#!/bin/sh\n\0/etc/qemu/bridge.conf\0'), { mode: 0o755 });
    const found = await bridgeHelperFacts(helper, 'qemu-system-x86_64', files({ '/etc/qemu/bridge.conf': 'allow br0\n' }));
    expect(found).toEqual({ path: helper, problems: [], acl: { file: '/etc/qemu/bridge.conf', allowAll: false, denyAll: false, allow: ['br0'], deny: [] } });
    const unreadable = await bridgeHelperFacts(helper, 'qemu-system-x86_64', files({}));
    expect(unreadable.problems).toEqual([`${helper} cannot be used: cannot read /etc/qemu/bridge.conf: ENOENT: no such file or directory, open '/etc/qemu/bridge.conf', so it refuses every bridge`]);
  });
});
