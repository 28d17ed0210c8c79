// A ProxyCommand for tests: `node tcp-relay.mjs HOST PORT [ignored...]` joins its stdin/stdout
// to a TCP connection to HOST:PORT (what `nc HOST PORT` does; nc is not on every machine).
// Cloud tests route every instance address to one loopback sshd with it, so nothing ever
// connects to the addresses a cloud double hands out.
import net from 'node:net';

const [host, port] = process.argv.slice(2);
const sock = net.connect({ host, port: Number(port) });
sock.on('error', (e) => {
  process.stderr.write(`tcp-relay: ${host}:${port}: ${e.message}\n`);
  process.exit(1);
});
sock.on('connect', () => {
  process.stdin.pipe(sock);
  sock.pipe(process.stdout);
});
sock.on('close', () => process.exit(0));
process.stdin.on('end', () => sock.end());
