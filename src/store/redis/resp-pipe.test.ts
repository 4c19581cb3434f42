import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RespPipe } from './resp-pipe.js';

/** A TCP server that reads RESP commands and answers each with reply(command), in tiny pieces. */
async function fakeRedis(
  reply: (command: string[]) => string,
): Promise<{ server: Server; port: number; commands: string[][] }> {
  const commands: string[][] = [];
  const server = createServer((socket: Socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const parsed = parseCommand(pending);
        if (parsed === null) break;
        pending = pending.subarray(parsed.length);
        commands.push(parsed.command);
        // Replies cut anywhere: the pipe must count them across reads.
        const text = Buffer.from(reply(parsed.command));
        for (let i = 0; i < text.length; i += 3) socket.write(text.subarray(i, i + 3));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, commands };
}

function parseCommand(data: Buffer): { command: string[]; length: number } | null {
  let at = data.indexOf('\r\n');
  if (at < 0) return null;
  const count = Number(data.toString('latin1', 1, at));
  at += 2;
  const command: string[] = [];
  for (let i = 0; i < count; i++) {
    const end = data.indexOf('\r\n', at);
    if (end < 0) return null;
    const length = Number(data.toString('latin1', at + 1, end));
    if (end + 2 + length + 2 > data.length) return null;
    command.push(data.toString('utf8', end + 2, end + 2 + length));
    at = end + 2 + length + 2;
  }
  return { command, length: at };
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start(reply: (command: string[]) => string) {
  const fake = await fakeRedis(reply);
  servers.push(fake.server);
  return fake;
}

describe('RespPipe', () => {
  it('authenticates and selects the database of the URL, then counts the replies', async () => {
    const fake = await start((command) =>
      command[0] === 'HSET' ? `:${(command.length - 2) / 2}\r\n` : '+OK\r\n',
    );
    const pipe = await RespPipe.open(`redis://user:p%40ss@127.0.0.1:${fake.port}/3`);
    expect(fake.commands).toEqual([
      ['AUTH', 'user', 'p@ss'],
      ['SELECT', '3'],
    ]);
    const two = Buffer.from(
      '*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\na\r\n$1\r\n1\r\n*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\nb\r\n$1\r\n2\r\n',
    );
    for (let i = 0; i < 100; i++) pipe.write(two, 2);
    await pipe.drain(0);
    expect(fake.commands.length).toBe(202);
    expect(fake.commands.at(-1)).toEqual(['HSET', 'k', 'b', '2']);
    pipe.close();
  });

  it('keeps the first error reply, and fails the waiting drain with it', async () => {
    const fake = await start((command) => (command[1] === 'bad' ? '-ERR wrong kind of value\r\n' : ':1\r\n'));
    const pipe = await RespPipe.open(`redis://127.0.0.1:${fake.port}`);
    pipe.command(['HSET', 'good', 'f', 'v']);
    pipe.command(['HSET', 'bad', 'f', 'v']);
    pipe.command(['HSET', 'good', 'g', 'v']);
    await expect(pipe.drain(0)).rejects.toThrow('Redis: ERR wrong kind of value');
    pipe.close();
  });

  it('fails to open when authentication fails, and when nobody listens', async () => {
    const fake = await start(() => '-WRONGPASS invalid username-password pair\r\n');
    await expect(RespPipe.open(`redis://:nope@127.0.0.1:${fake.port}`)).rejects.toThrow(/WRONGPASS/);
    const closed = await start(() => '');
    closed.server.close();
    await once(closed.server, 'close');
    await expect(RespPipe.open(`redis://127.0.0.1:${closed.port}`)).rejects.toThrow();
  });

  it('fails the waiting drain when the connection drops', async () => {
    const fake = await start(() => '');
    fake.server.on('connection', (socket) => setTimeout(() => socket.destroy(), 50));
    const pipe = await RespPipe.open(`redis://127.0.0.1:${fake.port}`);
    pipe.command(['HSET', 'k', 'f', 'v']);
    await expect(pipe.drain(0)).rejects.toThrow(/closed the connection|Redis connection/);
    pipe.close();
  });
});
