/**
 * Adapts a generator that takes an AbortSignal into the event stream of a GraphQL subscription:
 *
 * - `return()` (a client unsubscribing, a socket closing) aborts at once, even while the
 *   generator is suspended awaiting the next event: an async generator's own return() would wait
 *   for that await to settle first; so does the operation's own signal (`parent`);
 * - a failure mid-stream (the sidecar going away, say) becomes one last event carrying the error,
 *   which the field resolver throws, so the client gets a regular GraphQL error in a `next`
 *   message instead of a torn-down connection.
 */
export function abortable<T>(
  parent: AbortSignal,
  make: (signal: AbortSignal) => AsyncGenerator<T>,
): AsyncIterableIterator<T | Error> {
  const controller = new AbortController();
  const inner = make(AbortSignal.any([parent, controller.signal]));
  let failed = false;
  return {
    async next() {
      if (failed) return { done: true, value: undefined };
      try {
        return await inner.next();
      } catch (err) {
        failed = true;
        return { done: false, value: err instanceof Error ? err : new Error(String(err)) };
      }
    },
    async return(value?: unknown) {
      controller.abort();
      await inner.return(undefined as never).catch(() => undefined);
      return { done: true, value: value as T };
    },
    async throw(err?: unknown) {
      controller.abort();
      return inner.throw(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** For a subscription's field resolver: the event, or the stream's failure thrown as the field's error. */
export function eventOrThrow<T>(event: T | Error): T {
  if (event instanceof Error) throw event;
  return event;
}
