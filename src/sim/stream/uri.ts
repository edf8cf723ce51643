/** Where a migration stream goes: QEMU's `tcp:HOST:PORT` and `unix:PATH` URIs. */
export type MigrationTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Parses a migration URI, or undefined when QEMU would not know the protocol. Pure. */
export function parseMigrationUri(uri: string): MigrationTarget | undefined {
  if (uri.startsWith('tcp:')) {
    const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(uri.slice(4));
    if (!match) return undefined;
    const port = Number(match[3]);
    if (port > 65535) return undefined;
    return { kind: 'tcp', host: match[1] ?? (match[2] || '0.0.0.0'), port };
  }
  if (uri.startsWith('unix:') && uri.length > 5) return { kind: 'unix', path: uri.slice(5) };
  return undefined;
}
