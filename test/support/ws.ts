import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

/**
 * A real graphql-ws client over a real WebSocket, as a browser or service would connect;
 * `connectionParams` (e.g. `{ authorization: "Bearer <token>" }`) go in its connection_init.
 */
export function wsClient(httpUrl: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(connectionParams ? { connectionParams } : {}),
  });
}

export interface SocketClose {
  code: number;
  reason: string;
}

export interface GraphqlSocket {
  socket: WebSocket;
  /** The server's answer to connection_init: "ack", or how it closed the socket instead. */
  outcome: "ack" | SocketClose;
  /** Resolves when the socket closes, with the code and reason. */
  closed: Promise<SocketClose>;
  /** Every message the server sent after the ack, parsed. */
  messages: { id?: string; type: string; payload?: unknown }[];
  send(message: unknown): void;
  close(): Promise<SocketClose>;
}

/**
 * A bare graphql-transport-ws socket (the `ws` package, no client library): sends connection_init
 * with `connectionParams` and waits up to `timeoutMs` for the ack or the close that refuses it.
 */
export async function connectSocket(
  httpUrl: string,
  connectionParams?: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<GraphqlSocket> {
  const socket = new WebSocket(httpUrl.replace(/^http/, "ws"), "graphql-transport-ws");
  socket.on("error", () => undefined); // the close that follows says what happened
  const closed = new Promise<SocketClose>((resolve) =>
    socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const messages: GraphqlSocket["messages"] = [];
  let acked: () => void = () => undefined;
  const ack = new Promise<"ack">((resolve) => {
    acked = () => resolve("ack");
  });
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    if (message.type === "connection_ack") acked();
    else messages.push(message);
  });
  socket.once("open", () =>
    socket.send(
      JSON.stringify({ type: "connection_init", ...(connectionParams ? { payload: connectionParams } : {}) }),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ack and no close within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const outcome = await Promise.race([ack, closed, timeout]);
    return {
      socket,
      outcome,
      closed,
      messages,
      send: (message) => socket.send(JSON.stringify(message)),
      close: () => {
        if (socket.readyState !== WebSocket.CLOSED) socket.close(1000);
        return closed;
      },
    };
  } catch (err) {
    socket.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
