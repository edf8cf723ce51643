import { describe, expect, it } from '@jest/globals';
import { withoutRacedEvent, type RacedEvent } from '../../conformance/trace.js';

const race: RacedEvent = { event: 'MIGRATION:device', after: 'MIGRATION:pre-switchover', before: 'MIGRATION:cancelling', why: 'test' };
const cancelled = ['MIGRATION:setup', 'MIGRATION:active', 'STOP', 'MIGRATION:pre-switchover', 'MIGRATION:cancelling', 'RESUME', 'MIGRATION:cancelled'];

/** Conformance traces compare the orders QEMU allows, and still fail on an event out of place. */
describe('withoutRacedEvent', () => {
  it('makes both of QEMU\'s orders one: with the raced event in its place, and without it', () => {
    const withDevice = [...cancelled.slice(0, 4), 'MIGRATION:device', ...cancelled.slice(4)];
    expect(withoutRacedEvent(withDevice, race)).toEqual(cancelled);
    expect(withoutRacedEvent(cancelled, race)).toEqual(cancelled);
  });

  it('keeps the event anywhere else, so that a real difference still shows', () => {
    const deviceAfterCancelling = [...cancelled.slice(0, 5), 'MIGRATION:device', ...cancelled.slice(5)];
    expect(withoutRacedEvent(deviceAfterCancelling, race)).toEqual(deviceAfterCancelling);
    const twice = [...cancelled.slice(0, 4), 'MIGRATION:device', 'MIGRATION:device', ...cancelled.slice(4)];
    expect(withoutRacedEvent(twice, race)).toEqual(twice);
    const completed = ['MIGRATION:pre-switchover', 'MIGRATION:device', 'MIGRATION:completed'];
    expect(withoutRacedEvent(completed, race)).toEqual(completed);
  });
});
