// The two socket options a transparent proxy needs and Node does not expose, through
// koffi (libc's getsockopt / setsockopt / socket):
//   SO_ORIGINAL_DST: where a redirected connection was going before nat rewrote it;
//   SO_MARK: set on the sidecar's own upstream sockets, which the redirect rules exempt.

import { isIPv6, Socket } from "node:net";
import koffi from "koffi";

const SOL_SOCKET = 1;
const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_MARK = 36;
const SO_ORIGINAL_DST = 80; // <linux/netfilter_ipv4.h>
const IP6T_SO_ORIGINAL_DST = 80; // <linux/netfilter_ipv6/ip6_tables.h>
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;

const libc = koffi.load("libc.so.6");
const getsockopt = libc.func(
  "int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *length)",
);
const setsockopt = libc.func(
  "int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t length)",
);
const socketCall = libc.func("int socket(int domain, int type, int protocol)");
const closeFd = libc.func("int close(int fd)");
const errnoOf = () => koffi.errno();

export class SocketOptionError extends Error {
  override readonly name = "SocketOptionError";
  constructor(
    readonly code: "ERR_NO_FD" | "ERR_NOT_REDIRECTED" | "ERR_SOCKOPT",
    message: string,
  ) {
    super(message);
  }
}

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0)
    throw new SocketOptionError(
      "ERR_NO_FD",
      "the socket has no file descriptor (closed, or not a TCP socket)",
    );
  return fd;
}

export interface Destination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The destination a redirected (nat REDIRECT / DNAT) connection originally had. */
export function originalDestination(socket: Socket): Destination {
  const fd = fdOf(socket);
  const v6 = socket.localFamily === "IPv6" && !socket.localAddress?.startsWith("::ffff:");
  const buf = Buffer.alloc(v6 ? 28 : 16);
  const len = [buf.length];
  if (
    getsockopt(
      fd,
      v6 ? SOL_IPV6 : SOL_IP,
      v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST,
      buf,
      len,
    ) !== 0
  ) {
    const errno = errnoOf();
    // ENOENT: conntrack has no nat mapping for this connection (it was not redirected).
    throw new SocketOptionError(
      errno === 2 ? "ERR_NOT_REDIRECTED" : "ERR_SOCKOPT",
      `getsockopt(SO_ORIGINAL_DST) failed: errno ${errno}`,
    );
  }
  const port = buf.readUInt16BE(2);
  if (buf.readUInt16LE(0) === AF_INET6) {
    const groups = Array.from({ length: 8 }, (_, i) => buf.readUInt16BE(8 + 2 * i).toString(16));
    return {
      address: new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1),
      port,
      family: 6,
    };
  }
  return { address: [4, 5, 6, 7].map((i) => buf[i]).join("."), port, family: 4 };
}

/**
 * A TCP socket whose packets carry `mark` (SO_MARK; needs CAP_NET_ADMIN in the network
 * namespace's user namespace), ready for `.connect()`. The mark is set before the first
 * packet, so even the SYN is exempt from the redirect rules.
 */
export function markedSocket(mark: number, host: string): Socket {
  const fd = socketCall(
    isIPv6(host) ? AF_INET6 : AF_INET,
    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
    0,
  );
  if (fd < 0) throw new SocketOptionError("ERR_SOCKOPT", `socket() failed: errno ${errnoOf()}`);
  const value = Buffer.alloc(4);
  value.writeUInt32LE(mark);
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, value, 4) !== 0) {
    const errno = errnoOf();
    closeFd(fd);
    throw new SocketOptionError(
      "ERR_SOCKOPT",
      `setsockopt(SO_MARK) failed: errno ${errno}${errno === 1 ? " (EPERM: needs CAP_NET_ADMIN)" : ""}`,
    );
  }
  return new Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}
