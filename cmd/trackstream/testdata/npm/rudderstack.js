// Sends EVENTS track calls (properties.n = 0..EVENTS-1) and one identify with
// @rudderstack/rudder-sdk-node, as it comes from npm (gzip on, batches of 10),
// to the collector at COLLECTOR with the write key WRITE_KEY, and exits
// non-zero if the SDK reports any failure.
const Analytics = require('@rudderstack/rudder-sdk-node');

const { COLLECTOR, WRITE_KEY, EVENTS } = process.env;
const client = new Analytics(WRITE_KEY, { dataPlaneUrl: COLLECTOR, flushAt: 10, flushInterval: 200, logLevel: 'error' });
let failure = null;
const done = err => { if (err) failure = err; };

(async () => {
  for (let n = 0; n < Number(EVENTS); n++) {
    client.track({ userId: 'user-' + (n % 3), event: 'Order Completed', properties: { n, sdk: 'rudderstack' } }, done);
  }
  client.identify({ userId: 'user-0', traits: { plan: 'pro' } }, done);
  await client.flush();
  if (failure) {
    console.error('rudder-sdk-node failed:', failure.message || failure);
    process.exit(1);
  }
})().catch(err => { console.error(err); process.exit(1); });
