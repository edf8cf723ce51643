import { ExitCode, NicmigError, type NicmigErrorOptions } from '../errors.js';

/** Base of everything that goes wrong on a QMP connection. */
export class QmpError extends NicmigError {}

/** Could not open the transport or get a greeting; `cause` is the socket error. */
export class QmpConnectError extends QmpError {
  constructor(message: string, options?: NicmigErrorOptions) {
    super('QMP_CONNECT_FAILED', message, ExitCode.QMP_CONNECT, options);
  }
}

/**
 * The connection ended (QEMU quit or died, the socket closed, the client closed it).
 * Every command still pending fails with this one error, at once.
 */
export class QmpDisconnectedError extends QmpError {
  constructor(message: string, options?: NicmigErrorOptions) {
    super('QMP_DISCONNECTED', message, ExitCode.QMP_DISCONNECTED, options);
  }
}

export type QmpProtocolErrorCode =
  | 'QMP_BAD_GREETING'
  | 'QMP_NEGOTIATION_FAILED'
  | 'QMP_MALFORMED_MESSAGE'
  | 'QMP_MESSAGE_TOO_LARGE'
  | 'QMP_MESSAGE_TOO_DEEP'
  | 'QMP_BAD_REPLY'
  | 'QMP_NOT_CONNECTED';

/** The peer broke the protocol: bad greeting, unparsable or oversized message, bad reply. */
export class QmpProtocolError extends QmpError {
  constructor(code: QmpProtocolErrorCode, message: string, options?: NicmigErrorOptions) {
    super(code, message, ExitCode.QMP_PROTOCOL, options);
  }
}

/** No reply within the command's deadline. A late reply is dropped. */
export class QmpTimeoutError extends QmpError {
  constructor(message: string, options?: NicmigErrorOptions) {
    super('QMP_TIMEOUT', message, ExitCode.QMP_TIMEOUT, options);
  }
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends QmpError {
  readonly errorClass: string;
  readonly desc: string;
  readonly command: string;
  readonly arguments: unknown;

  constructor(command: string, args: unknown, errorClass: string, desc: string) {
    super('QMP_COMMAND_FAILED', `${command}: ${errorClass}: ${desc}`, ExitCode.QMP_COMMAND, {
      details: { command, errorClass, desc },
    });
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
    this.arguments = args;
  }
}
