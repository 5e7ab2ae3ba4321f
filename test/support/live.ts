import type { Client } from "graphql-ws";

export type Push = {
  reason: string;
  eventIds: string[];
  ranking: { requestId: string; historyUsed: number; items: { itemId: string; score: number }[] };
};

const SUB = `subscription($m: ID!, $c: [ID!]) { livePredictions(memberId: $m, task: "job_apply", candidateIds: $c, first: 5) {
  reason eventIds ranking { requestId historyUsed items { itemId score } } } }`;

/** Reads pushes from a subscription in the background. */
export function collectLivePredictions(client: Client, variables: Record<string, unknown>) {
  const pushes: Push[] = [];
  const waiters: (() => void)[] = [];
  const it = client.iterate<{ livePredictions: Push }>({ query: SUB, variables });
  (async () => {
    for await (const r of it) {
      if (r.errors) throw new Error(JSON.stringify(r.errors));
      pushes.push(r.data?.livePredictions as Push);
      for (const w of waiters.splice(0)) w();
    }
  })().catch(() => undefined);
  return {
    pushes,
    async waitFor(n: number, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (pushes.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${pushes.length} of ${n} pushes arrived`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    stop: () => it.return?.(undefined),
  };
}
