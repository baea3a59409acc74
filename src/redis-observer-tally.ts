import type { ObserverTally } from './realtime/ports.js';
import type { RedisClient } from './redis.js';

/**
 * One hash per session, `<prefix>:observers:<sessionId>`, with a field per instance:
 * `<count>:<expiresAtMs>` by Redis' own clock (TIME), so the instances' clocks do not matter. A
 * report writes (or, at 0, deletes) this instance's field, drops the expired fields of the others
 * and answers the sum of the rest, in one script on one key (so it runs on Redis Cluster too).
 */
const REPORT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + ttl))
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = all[i + 1]
  local sep = string.find(v, ':', 1, true)
  local expires = sep and tonumber(string.sub(v, sep + 1)) or 0
  if expires < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    total = total + tonumber(string.sub(v, 1, sep - 1))
  end
end
return total
`;

/** Observer counts in Redis; a report lives `ttlMs` unless renewed. */
export class RedisObserverTally implements ObserverTally {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly instanceId: string,
    private readonly ttlMs: number,
  ) {}

  async report(sessionId: string, localCount: number): Promise<number> {
    const total = await this.client.eval(REPORT_SCRIPT, {
      keys: [`${this.prefix}:observers:${sessionId}`],
      arguments: [this.instanceId, String(localCount), String(this.ttlMs)],
    });
    return Number(total);
  }
}
