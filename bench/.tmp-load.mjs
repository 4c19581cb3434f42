import autocannon from 'autocannon';
const bodies = [];
const ch = ['call_center','web','mobile','sales_force','email'];
for (let i = 0; i < 5000; i++) bodies.push(JSON.stringify({ customerId: `cust-${1 + Math.floor(Math.random()*100000)}`, channel: ch[i%5] }));
let i = 0;
const r = await autocannon({ url: process.argv[2], connections: 50, duration: Number(process.argv[3] ?? 10), requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench-key' }, setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }) }] });
console.log(JSON.stringify({ rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx }));
