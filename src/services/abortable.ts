/**
 * Wraps a generator that takes an AbortSignal so that `return()` (a client unsubscribing, a
 * socket closing) aborts at once, even while the generator is suspended awaiting the next event:
 * an async generator's own return() would wait for that await to settle first.
 */
export function abortable<T>(make: (signal: AbortSignal) => AsyncGenerator<T>): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const inner = make(controller.signal);
  return {
    next: () => inner.next(),
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
