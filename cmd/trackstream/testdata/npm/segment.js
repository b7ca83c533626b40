// Sends EVENTS track calls (properties.n = 0..EVENTS-1) and one identify with
// @segment/analytics-node, as it comes from npm (batches of 10), to the
// collector at COLLECTOR with the write key WRITE_KEY, and exits non-zero if
// the SDK reports any failure.
const { Analytics } = require('@segment/analytics-node');

const { COLLECTOR, WRITE_KEY, EVENTS } = process.env;
const client = new Analytics({ writeKey: WRITE_KEY, host: COLLECTOR, path: '/v1/batch', flushAt: 10, flushInterval: 200, maxRetries: 3 });
let failure = null;
client.on('error', err => { failure = err; });
const done = err => { if (err) failure = err; };

(async () => {
  for (let n = 0; n < Number(EVENTS); n++) {
    client.track({ userId: 'user-' + (n % 3), event: 'Order Completed', properties: { n, sdk: 'segment' } }, done);
  }
  client.identify({ userId: 'user-0', traits: { plan: 'pro' } }, done);
  await client.closeAndFlush({ timeout: 30000 });
  if (failure) {
    console.error('analytics-node failed:', failure.reason || failure.message || failure);
    process.exit(1);
  }
})().catch(err => { console.error(err); process.exit(1); });
