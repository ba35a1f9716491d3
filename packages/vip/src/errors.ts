/** Stable error codes of the vip package. The CLI maps them to exit codes and a hint. */
export type VipErrorCode =
  | 'VIP_BAD_ADDRESS' // not an IPv4/IPv6 address with a valid prefix, e.g. '198.18.0.100/24'
  | 'VIP_BAD_OPTIONS' // other invalid options (announce counts, method, ...)
  | 'VIP_UNKNOWN_INTERFACE' // the configured interface does not exist in this network namespace
  | 'VIP_NO_CAP_NET_ADMIN' // adding/removing an address needs CAP_NET_ADMIN
  | 'VIP_NO_CAP_NET_RAW' // announcing (ARP/NA) and probing need CAP_NET_RAW
  | 'VIP_CONFLICT' // the conflict probe saw another MAC answering for the address
  | 'VIP_COMMAND_FAILED' // `ip` or `arping` failed for another reason (message has its stderr)
  | 'VIP_ANNOUNCE_FAILED' // sending the gratuitous ARP / unsolicited NA failed
  | 'VIP_UNSUPPORTED' // the operation has no implementation with the available method
  | 'VIP_BIND_FAILED' // single-host mode: binding or unbinding the SIP port failed
  | 'VIP_CLOSED'; // the controller was closed

export class VipError extends Error {
  readonly code: VipErrorCode;
  /** For VIP_CONFLICT: the MAC address that answered for the VIP. */
  readonly mac?: string;
  constructor(code: VipErrorCode, message: string, options?: { cause?: unknown; mac?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VipError';
    this.code = code;
    if (options?.mac) this.mac = options.mac;
  }
}
