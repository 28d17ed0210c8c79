// ssh_config's ProxyCommand as the stream ssh2 connects over: what it says when it fails, and
// that a command which never speaks cannot take the worker down with it.
import { describe, expect, it } from 'vitest';
import { proxyCommandStream } from '../../providers/ssh/proxy-command.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('proxyCommandStream', () => {
  it('a command that never speaks is refused at the timeout, and its later death stays quiet', async () => {
    await expect(proxyCommandStream('exec sleep 5', 300)).rejects.toThrow("ProxyCommand 'exec sleep 5' gave no SSH banner within 300 ms");
    // The command is killed after the rejection; its close must not raise an error no one listens to
    // (an 'error' on the unheld stream would end this process, as it once ended a worker).
    await sleep(500);
  });

  it('a command that exits first says how, with the tail of its stderr', async () => {
    await expect(proxyCommandStream('echo "no route to bastion" >&2; exit 3', 5_000)).rejects.toThrow("ProxyCommand 'echo \"no route to bastion\" >&2; exit 3' exited with 3: no route to bastion");
  });

  it('a command that speaks is the connection; its failure afterwards reaches whoever holds the stream', async () => {
    const stream = await proxyCommandStream("printf 'SSH-2.0-stand-in\\r\\n'; sleep 0.2; exit 5", 5_000);
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    const err = await new Promise<Error>((resolve) => stream.on('error', resolve));
    expect(Buffer.concat(chunks).toString()).toBe('SSH-2.0-stand-in\r\n');
    expect(err.message).toContain('exited with 5');
  });
});
