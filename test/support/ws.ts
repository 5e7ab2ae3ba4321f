import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

/** A real graphql-ws client over a real WebSocket, as a browser or service would connect. */
export function wsClient(httpUrl: string): Client {
  return createClient({
    url: httpUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
}
