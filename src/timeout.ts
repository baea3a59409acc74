/**
 * The one timeout race of the code base: settles like `promise`, or, when `ms` pass first, like
 * `onTimeout()` (its value, or what it throws). The timer never outlives the race.
 *
 *   await withTimeout(ping(), 500, () => { throw new Error('timed out') });   // a bound that fails
 *   await withTimeout(flushing, remainingMs, () => undefined);                // stop waiting, quietly
 */
export async function withTimeout<T, U = never>(promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    }, Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
