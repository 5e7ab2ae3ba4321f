import type { IncomingMessage } from "node:http";
import type { WebSocket } from "ws";
import type { Principal } from "../auth/principal";
import type { DomainError } from "../domain/errors";
import { WS_CLOSE } from "./security";

/** What graphql-ws's ws adapter hands each callback as `ctx.extra`. */
export type WsExtra = {
  socket: WebSocket;
  request: IncomingMessage;
};

/** One authenticated WebSocket: its principal and its running operations' signals by id. */
export interface Connection {
  principal: Principal;
  socket: WebSocket;
  operations: Map<string, AbortController>;
  expiry: NodeJS.Timeout | null;
}

/** setTimeout's longest delay; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The authenticated sockets of this replica: who each one is, how many each principal holds
 * (WS_MAX_CONNECTIONS_PER_PRINCIPAL), and a timer that closes a socket with 4401 when its
 * credentials expire: a token checked once at connection would otherwise outlive itself for as
 * long as the socket stays open.
 */
export class SocketRegistry {
  private readonly byContext = new WeakMap<object, Connection>();
  private readonly perPrincipal = new Map<string, number>();

  constructor(private readonly maxPerPrincipal: number) {}

  /** Registers an authenticated socket; false (the socket closed with 4429) over the principal's limit. */
  open(ctx: object, socket: WebSocket, principal: Principal): boolean {
    // Closed while its credentials were checked: onClose has run already and would never free
    // the place taken here.
    if (socket.readyState !== socket.OPEN) return false;
    const held = this.perPrincipal.get(principal.key) ?? 0;
    if (this.maxPerPrincipal > 0 && held >= this.maxPerPrincipal) {
      closeSocket(
        socket,
        WS_CLOSE.tooManyConnections,
        `too many connections: ${this.maxPerPrincipal} per principal`,
      );
      return false;
    }
    this.perPrincipal.set(principal.key, held + 1);
    const conn: Connection = { principal, socket, operations: new Map(), expiry: null };
    this.byContext.set(ctx, conn);
    this.armExpiry(conn);
    return true;
  }

  get(ctx: object): Connection | undefined {
    return this.byContext.get(ctx);
  }

  endOperation(ctx: object, id: string): void {
    const conn = this.byContext.get(ctx);
    conn?.operations.get(id)?.abort();
    conn?.operations.delete(id);
  }

  /** The socket closed: abort its operations, forget it, free its place. */
  close(ctx: object): void {
    const conn = this.byContext.get(ctx);
    if (!conn) return;
    this.byContext.delete(ctx);
    for (const controller of conn.operations.values()) controller.abort();
    conn.operations.clear();
    if (conn.expiry) clearTimeout(conn.expiry);
    const held = (this.perPrincipal.get(conn.principal.key) ?? 1) - 1;
    if (held > 0) this.perPrincipal.set(conn.principal.key, held);
    else this.perPrincipal.delete(conn.principal.key);
  }

  private armExpiry(conn: Connection): void {
    const at = conn.principal.expiresAt;
    if (at === null) return;
    const wait = at - Date.now();
    if (wait <= 0) {
      closeSocket(conn.socket, WS_CLOSE.unauthenticated, "the token has expired");
      return;
    }
    conn.expiry = setTimeout(() => this.armExpiry(conn), Math.min(wait, MAX_TIMER_MS));
    conn.expiry.unref();
  }
}

/** Close reasons are limited to 123 bytes by the WebSocket protocol. */
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  socket.close(code, r);
}

export function closeCode(err: DomainError): number {
  if (err.code === "UNAUTHENTICATED") return WS_CLOSE.unauthenticated;
  if (err.code === "FORBIDDEN") return WS_CLOSE.forbidden;
  return 1013; // try again later: the keys that verify tokens could not be fetched
}

/** A header or connection parameter as one string; lists and other types are not credentials. */
export function stringParam(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}
