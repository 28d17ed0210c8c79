#!/usr/bin/env node
// Prints the first port of a block of COUNT consecutive loopback ports that are all free now:
//   node deploy/native/free-port-block.mjs COUNT [BASE]
// With BASE, checks only that block (exit 1 when a port is taken, naming it). Without, tries
// random blocks in 20000-30999: below Linux's ephemeral range (32768+), whose ports any
// outgoing connection may take before a server binds them.
import net from 'node:net';

const count = Number(process.argv[2]);
const fixed = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
if (!Number.isInteger(count) || count < 1 || (fixed !== undefined && !(Number.isInteger(fixed) && fixed > 0 && fixed + count <= 65536))) {
  console.error('usage: free-port-block.mjs COUNT [BASE]');
  process.exit(2);
}

const free = (port) =>
  new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });

async function takenIn(base) {
  for (let port = base; port < base + count; port++) if (!(await free(port))) return port;
  return undefined;
}

if (fixed !== undefined) {
  const taken = await takenIn(fixed);
  if (taken !== undefined) {
    console.error(`port ${taken} on 127.0.0.1 is in use (block ${fixed}-${fixed + count - 1})`);
    process.exit(1);
  }
  console.log(fixed);
} else {
  for (let i = 0; i < 100; i++) {
    const base = 20000 + Math.floor(Math.random() * (11000 - count));
    if ((await takenIn(base)) === undefined) {
      console.log(base);
      process.exit(0);
    }
  }
  console.error(`no block of ${count} free ports found in 20000-30999`);
  process.exit(1);
}
