// The load generators' HTTP client: keep-alive HTTP/1.1 connections that each carry one
// request at a time, as a device's does, with as little work per request as a node process
// can do. The generators share two cores with the hub and its database, so their cost is taken
// from what is measured: loading the bench's floor (a bare node:http server), node:http's
// client cost a generator about 112 µs of CPU a request, undici's Pool about 60 µs, and this
// client (node:net, answers parsed by http-parser-js) about 49 µs.
import { connect, type Socket } from 'node:net';
import { HTTPParser } from 'http-parser-js';

export interface Answer {
  status: number;
  text: string;
}

interface Pending {
  resolve: (answer: Answer) => void;
  reject: (error: Error) => void;
}

/** One keep-alive connection to `url`'s host and port; one request on it at a time. */
export class Connection {
  private readonly socket: Socket;
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private readonly host: string;
  private pending?: Pending;
  private status = 0;
  private chunks: Buffer[] = [];
  /** Set once the connection failed or closed; every later request is refused with it. */
  private failure?: Error;

  constructor(url: URL) {
    this.host = url.host;
    this.socket = connect(Number(url.port), url.hostname);
    this.socket.setNoDelay(true);
    this.parser[HTTPParser.kOnHeadersComplete] = (info) => {
      this.status = info.statusCode;
    };
    this.parser[HTTPParser.kOnBody] = (chunk, offset, length) => {
      this.chunks.push(chunk.subarray(offset, offset + length));
    };
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      const pending = this.pending;
      const answer = { status: this.status, text: Buffer.concat(this.chunks).toString() };
      this.pending = undefined;
      this.chunks = [];
      pending?.resolve(answer);
    };
    this.socket.on('data', (data: Buffer) => {
      const parsed = this.parser.execute(data);
      if (parsed instanceof Error) this.fail(new Error(`a malformed answer: ${parsed.message}`));
    });
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('the connection closed')));
  }

  /** Whether a request may be sent on it now. */
  get idle(): boolean {
    return !this.pending && !this.failure;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  post(path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('a request is already under way'));
    let head =
      `POST ${path} HTTP/1.1\r\nhost: ${this.host}\r\n` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    return new Promise<Answer>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]));
    });
  }

  close(): void {
    this.failure ??= new Error('the connection was closed');
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
    this.socket.destroy();
  }
}

/**
 * Up to `size` connections; a request waits (first come, first served) while every one is
 * busy. A failed connection is dropped, and a new one opened when needed. The connection idle
 * longest is used first, so each is used in turn: one left idle past the server's keep-alive
 * timeout (node:http's 5 s) is closed by the server, and a request sent on it just then is
 * cut (ECONNRESET).
 */
export class ConnectionPool {
  private readonly all = new Set<Connection>();
  private readonly idle: Connection[] = [];
  private readonly waiting: ((connection: Connection) => void)[] = [];

  constructor(
    private readonly url: URL,
    private readonly size: number,
  ) {}

  async post(path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
    const connection = await this.acquire();
    try {
      return await connection.post(path, headers, body);
    } finally {
      this.release(connection);
    }
  }

  close(): void {
    for (const connection of this.all) connection.close();
  }

  private acquire(): Promise<Connection> | Connection {
    let connection: Connection | undefined;
    while ((connection = this.idle.shift())) {
      if (!connection.failed) return connection;
      this.all.delete(connection);
    }
    if (this.all.size < this.size) {
      connection = new Connection(this.url);
      this.all.add(connection);
      return connection;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: Connection): void {
    if (connection.failed) {
      this.all.delete(connection);
      const next = this.waiting.shift();
      if (next) void Promise.resolve(this.acquire()).then(next);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }
}
