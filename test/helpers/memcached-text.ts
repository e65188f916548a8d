/**
 * memcached's text protocol, just enough for tests to read a node's counters and to wait until
 * a node answers, whichever provider started it.
 */
import net from 'node:net';

/** Sends one text-protocol command (a Buffer: with binary data) and reads until `terminator`; the answer is read as latin1 (bytes kept). */
export function textCommand(host: string, port: number, command: string | Buffer, terminator = 'END\r\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`memcached ${host}:${port} did not answer "${String(command).trim().slice(0, 80)}"`));
    }, 2000);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.endsWith(terminator) || /^(ERROR|SERVER_ERROR|CLIENT_ERROR)/.test(data)) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(command);
  });
}

/** memcached's `stats` counters. */
export async function readStats(host: string, port: number): Promise<Record<string, number>> {
  const text = await textCommand(host, port, 'stats\r\n');
  const out: Record<string, number> = {};
  for (const line of text.split('\r\n')) {
    const [tag, name, value] = line.split(' ');
    if (tag === 'STAT') out[name] = Number(value);
  }
  return out;
}

/** Resolves once the node answers `stats` (a listening port alone is not enough behind a proxy). */
export async function waitUntilAnswering(host: string, port: number, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await readStats(host, port);
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
