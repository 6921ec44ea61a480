import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';

/** What a fake proxy was asked to reach, as host:port. */
export interface FakeProxy {
  url: string;
  targets: string[];
  close(): Promise<void>;
}

function tunnel(client: Socket, host: string, port: number, onOpen: () => void, head?: Buffer): void {
  const up = connect(port, host, () => {
    onOpen();
    if (head?.length) up.write(head);
    up.pipe(client);
    client.pipe(up);
  });
  up.on('error', () => client.destroy());
  client.on('error', () => up.destroy());
}

const closer = (s: Server | TcpServer, sockets: Set<Socket>) => () =>
  new Promise<void>((resolve) => {
    for (const c of sockets) c.destroy();
    s.close(() => resolve());
  });

/** An HTTP proxy that speaks CONNECT (how undici's ProxyAgent reaches every target). */
export async function startConnectProxy(): Promise<FakeProxy> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  server.on('connect', (req, client: Socket, head) => {
    targets.push(req.url!);
    const i = req.url!.lastIndexOf(':');
    tunnel(client, req.url!.slice(0, i).replace(/^\[|\]$/g, ''), Number(req.url!.slice(i + 1)), () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'), head);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, targets, close: closer(server, sockets) };
}

/** A SOCKS5 proxy (RFC 1928), no authentication, CONNECT only. */
export async function startSocks5Proxy(): Promise<FakeProxy> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.once('data', (hello) => {
      if (hello[0] !== 5) return client.destroy();
      client.write(Buffer.from([5, 0]));
      client.once('data', (req) => {
        const atyp = req[3];
        let host: string;
        let at: number;
        if (atyp === 1) {
          host = [...req.subarray(4, 8)].join('.');
          at = 8;
        } else if (atyp === 3) {
          const n = req[4]!;
          host = req.subarray(5, 5 + n).toString();
          at = 5 + n;
        } else return client.destroy();
        const port = req.readUInt16BE(at);
        targets.push(`${host}:${port}`);
        tunnel(client, host, port, () => client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0])));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `socks5://127.0.0.1:${(server.address() as AddressInfo).port}`, targets, close: closer(server, sockets) };
}
