// Preloaded (node --import) into the servers under test by `npm run bench`: the total of V8's GC
// pauses (PerformanceObserver 'gc' entries), written as {"ms","count"} to ARWAY_GC_PROBE_FILE every
// 200 ms, so the benchmark reads the GC time per position of both servers the same way. Plain
// JavaScript: it runs before tsx is loaded.
import { renameSync, writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

const file = process.env.ARWAY_GC_PROBE_FILE;
if (file) {
  let ms = 0;
  let count = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      ms += entry.duration;
      count++;
    }
  }).observe({ entryTypes: ['gc'] });
  const dump = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ ms, count }));
    renameSync(`${file}.tmp`, file);
  };
  dump();
  setInterval(dump, 200).unref();
}
