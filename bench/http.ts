import { Agent, request } from "node:http";

/**
 * A POST client for the load generator: node:http on kept-alive sockets, as load generators
 * (wrk, autocannon) keep theirs. It shares a core with the gateway in the bench, so what it
 * spends per request is time the gateway waits for that core; `fetch` spends about twice as much.
 */
export function httpPoster(
  sockets: number,
): (url: string, body: string, headers?: Record<string, string>) => Promise<string> {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return (url, body, headers) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}
