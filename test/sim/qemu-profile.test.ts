import { describe, expect, it } from '@jest/globals';
import { SimError } from '../../src/sim/errors.js';
import { machineNames, resolveMachine, similarMachines, simQemuProfile } from '../../src/sim/qemu-profile.js';
import { SimVm } from '../../src/sim/vm.js';

/**
 * What a simulated QEMU takes from its version's recording (fixtures/qmp/schema/): what it
 * says it is, its migration capabilities and parameters, its machine types. The conformance
 * suite compares each with the real QEMU; these pin what the orchestrator relies on.
 */
describe('the QEMU version of a simulated host', () => {
  const q72 = simQemuProfile('7.2');
  const q100 = simQemuProfile('10.0');

  it('says the recorded version, micro included', () => {
    expect(q72.greeting.qemu).toEqual(q72.recording.recorded.version);
    expect(q100.greeting.qemu).toMatchObject({ major: 10, minor: 0 });
    expect(q100.greeting.qemu).toEqual(q100.recording.recorded.version);
    expect(q100.greeting.package).toBe('nicmig simulator (patched-QEMU model)');
  });

  it("has each version's migration capabilities: 10.0's switchover-ack, mapped-ram, dirty-limit; 7.2's compress and block", () => {
    expect(q100.migration.capabilities).toEqual(expect.arrayContaining(['switchover-ack', 'mapped-ram', 'dirty-limit', 'events', 'pause-before-switchover', 'return-path']));
    expect(q100.migration.capabilities).not.toContain('compress');
    expect(q72.migration.capabilities).toEqual(expect.arrayContaining(['compress', 'block', 'events', 'pause-before-switchover', 'return-path']));
    expect(q72.migration.capabilities).not.toContain('switchover-ack');
  });

  it("has each version's migration parameters and defaults", () => {
    const p100 = q100.migration.defaultParameters();
    expect(Object.keys(p100)).toEqual(expect.arrayContaining(['mode', 'zero-page-detection', 'avail-switchover-bandwidth', 'vcpu-dirty-limit', 'downtime-limit']));
    expect(p100).not.toHaveProperty('compress-level');
    expect(q72.migration.defaultParameters()).toHaveProperty('compress-level');
    expect(q100.migration.setParametersArgs['zero-page-detection']).toEqual({ type: { enum: ['none', 'legacy', 'multifd'] }, optional: true });
    expect(q100.migration.setParametersArgs['downtime-limit']).toEqual({ type: 'uint64', optional: true });
    // A fresh copy each time: one VM's settings are not another's defaults.
    p100['downtime-limit'] = 1;
    expect(q100.migration.defaultParameters()['downtime-limit']).toBe(300);
  });

  it('takes migrate-incoming exit-on-error on 10.0 only; query-status singlestep on 7.2 only', () => {
    expect(q100.incomingExitOnError).toBe(true);
    expect(q100.migrateIncomingArgs['exit-on-error']).toEqual({ type: 'bool', optional: true });
    expect(q72.incomingExitOnError).toBe(false);
    expect(q72.migrateIncomingArgs).toEqual({ uri: { type: 'str' } });
    expect(q72.statusHasSinglestep).toBe(true);
    expect(q100.statusHasSinglestep).toBe(false);
  });

  it('resolves q35 and pc to its own version, keeps a pinned type it has, and has no type of a newer QEMU', () => {
    expect(resolveMachine(q72.machines, 'q35')).toBe('pc-q35-7.2');
    expect(resolveMachine(q100.machines, 'q35')).toBe('pc-q35-10.0');
    expect(resolveMachine(q72.machines, 'pc')).toBe('pc-i440fx-7.2');
    expect(resolveMachine(q100.machines, 'pc')).toBe('pc-i440fx-10.0');
    expect(resolveMachine(q100.machines, 'pc-q35-7.2')).toBe('pc-q35-7.2');
    expect(resolveMachine(q72.machines, 'pc-q35-10.0')).toBeUndefined();
    expect(similarMachines(q72.machines, 'pc-q35-10.0')).toEqual(['pc-q35-7.2', 'pc-q35-7.1', 'pc-q35-7.0', 'pc-q35-6.2']);
    expect(machineNames(q100.machines)).toEqual(expect.arrayContaining(['q35', 'pc', 'pc-q35-10.0', 'pc-q35-7.2']));
  });

  it('a VM of a machine type its QEMU does not have is refused, the type and version named', () => {
    let error: unknown;
    try {
      new SimVm({ name: 'vm1', memoryBytes: 16 << 20, qemuVersion: '7.2', machine: 'pc-q35-10.0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SimError);
    expect(error).toMatchObject({ code: 'SIM_BAD_VM_SPEC', exitCode: 3, message: "QEMU 7.2 has no machine type 'pc-q35-10.0' (VM vm1)", hint: 'it has pc-q35-7.2, pc-q35-7.1, pc-q35-7.0, pc-q35-6.2' });
  });
});
