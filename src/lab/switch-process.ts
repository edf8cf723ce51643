/**
 * The lab's switch as its own process (`nicmig sim switch`): a `SwitchServer` on a unix socket,
 * optionally with a traffic generator on its own port sending probes to a VM's MAC and
 * counting the echoes, reported every second (log line, and a JSON file for `lab status`); the
 * file is also rewritten at once when a MAC moves, so that a migration's announce shows without
 * waiting for the next second.
 */
import fs from 'node:fs';
import { SwitchServer } from '../sim/network/socket-switch.js';
import type { SwitchCounters } from '../sim/network/switch.js';
import { TrafficGenerator, type TrafficReport } from '../sim/network/traffic.js';

export interface SwitchProcessOptions {
  socket: string;
  /** send probes to this MAC */
  trafficTarget?: string;
  /** probes per second */
  trafficRate?: number;
  /** rewrite this JSON file with the report every second and at each MAC move */
  reportFile?: string;
  log: (message: string) => void;
}

export interface SwitchReport {
  at: string;
  socket: string;
  switch: SwitchCounters;
  /** MAC moves seen (a migrated VM's announce), latest last */
  moves: { mac: string; from: string; to: string; at: string }[];
  /** null without --traffic */
  traffic: (TrafficReport & { target: string; rate: number; counting: boolean }) | null;
}

/** The probe stream before the VM first answered (not counted), and the counted one. */
const WARM_UP_STREAM = 1;
const COUNTED_STREAM = 2;

export function formatTrafficReport(report: TrafficReport): string {
  return `${report.sent} sent, ${report.received} received, ${report.lost} lost, ${report.duplicated} duplicated, ${report.reordered} reordered, longest gap ${Math.round(report.longestGapMs)} ms`;
}

export class SwitchProcess {
  private readonly moves: SwitchReport['moves'] = [];
  private traffic: TrafficGenerator | undefined;
  private counting = false;
  private timers: ReturnType<typeof setInterval>[] = [];

  private constructor(
    readonly server: SwitchServer,
    private readonly options: SwitchProcessOptions,
  ) {
    server.fabric.onMove = (entry, from) => {
      this.moves.push({ mac: entry.mac, from, to: entry.port, at: new Date().toISOString() });
      if (this.moves.length > 100) this.moves.shift();
      options.log(`switch: ${entry.mac} moved from ${from} to ${entry.port}`);
      // inside the frame's forwarding: a report that cannot be written must not drop the frame
      try {
        this.writeReport();
      } catch (error) {
        options.log(`switch: could not write the report: ${(error as Error).message}`);
      }
    };
  }

  static async start(options: SwitchProcessOptions): Promise<SwitchProcess> {
    const server = await SwitchServer.listen(options.socket);
    const switchProcess = new SwitchProcess(server, options);
    options.log(`switch listening on ${options.socket}`);
    if (options.trafficTarget) await switchProcess.startTraffic(options.trafficTarget, options.trafficRate ?? 1000);
    switchProcess.timers.push(setInterval(() => switchProcess.tick(), 1000));
    switchProcess.writeReport();
    return switchProcess;
  }

  /**
   * Probes go out at once; counting starts at the first echo (the VM is up and answering), so
   * that the time before the VM exists is not counted as loss.
   */
  private async startTraffic(target: string, rate: number): Promise<void> {
    const traffic = await new TrafficGenerator().connect(this.server.fabric);
    this.traffic = traffic;
    traffic.start({ target, rate, stream: WARM_UP_STREAM });
    const warmUp = setInterval(() => {
      if (traffic.report().received === 0) return;
      clearInterval(warmUp);
      traffic.start({ target, rate, stream: COUNTED_STREAM });
      this.counting = true;
      this.options.log(`traffic: ${target} answers; counting from now at ${rate} probes/s`);
    }, 20);
    this.timers.push(warmUp);
    this.options.log(`traffic: probes to ${target} at ${rate}/s`);
  }

  report(): SwitchReport {
    const traffic = this.traffic && this.options.trafficTarget
      ? { target: this.options.trafficTarget, rate: this.options.trafficRate ?? 1000, counting: this.counting, ...(this.counting ? this.traffic.report() : { sent: 0, received: 0, lost: 0, duplicated: 0, reordered: 0, longestGapMs: 0, longestLossRun: 0 }) }
      : null;
    return { at: new Date().toISOString(), socket: this.server.path, switch: { ...this.server.fabric.counters }, moves: [...this.moves], traffic };
  }

  private tick(): void {
    const report = this.writeReport();
    if (report.traffic?.counting) this.options.log(`traffic: ${formatTrafficReport(report.traffic)}`);
  }

  private writeReport(): SwitchReport {
    const report = this.report();
    const file = this.options.reportFile;
    if (file) {
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
      fs.renameSync(`${file}.tmp`, file);
    }
    return report;
  }

  /** Stops the traffic, writes the last report, closes the switch (the socket is removed). */
  async stop(): Promise<SwitchReport> {
    for (const timer of this.timers) clearInterval(timer);
    this.traffic?.stop();
    const report = this.writeReport();
    if (report.traffic) this.options.log(`traffic at exit: ${formatTrafficReport(report.traffic)}`);
    this.traffic?.close();
    await this.server.close();
    return report;
  }
}
