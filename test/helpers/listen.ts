import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/** A fake upstream's server on an ephemeral loopback port: its origin, host:port, and how to stop it. */
export async function listenLoopback(server: Server): Promise<{ url: string; host: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One fake for a test file: started once, reset before each test, closed at the end. */
export function useFake<T extends { reset(): void; close(): Promise<void> }>(start: () => Promise<T>): { readonly fake: T } {
  const holder = {} as { fake: T };
  beforeAll(async () => {
    holder.fake = await start();
  });
  beforeEach(() => holder.fake.reset());
  afterAll(() => holder.fake?.close());
  return holder;
}
