import { createConnection } from 'node:net';

/**
 * Sends one command over a QEMU QMP socket (after the capabilities handshake)
 * and resolves with its `return` value.
 */
export function qmp(
  socketPath: string,
  execute: string,
  args?: object,
  timeoutMs = 5000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`QMP ${execute}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (error: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      socket.end();
      if (error) reject(error);
      else resolve(value);
    };
    socket.on('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        const message = JSON.parse(line) as {
          QMP?: unknown;
          return?: unknown;
          error?: { desc: string };
          event?: string;
        };
        if (message.event) continue;
        if (stage === 'greeting' && message.QMP) {
          stage = 'capabilities';
          socket.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        } else if (stage === 'capabilities') {
          if (message.error) return finish(new Error(`QMP: ${message.error.desc}`));
          stage = 'command';
          socket.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
        } else if (stage === 'command') {
          if (message.error) return finish(new Error(`QMP ${execute}: ${message.error.desc}`));
          return finish(undefined, message.return);
        }
      }
    });
  });
}
