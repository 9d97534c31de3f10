/**
 * patches/node-zookeeper-client+0.2.3.patch: a reply the client cannot parse (an error code it
 * does not know: in practice a frame read out of step after a reconnect left stale bytes behind)
 * used to throw "Unknown code" from the socket's data handler, which no caller can catch: the
 * process died (seen once in our integration runs, in `report`). With the patch the call fails
 * with CONNECTION_LOSS and the client reconnects. A fake ZooKeeper server speaks just enough of
 * the protocol to send that reply.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const zookeeper = require('node-zookeeper-client') as {
  createClient(conn: string, o: { sessionTimeout: number; retries: number; spinDelay: number }): {
    connect(): void; close(): void; once(e: string, f: () => void): void;
    getData(path: string, cb: (err: { getCode(): number } | null) => void): void;
  };
  Exception: { CONNECTION_LOSS: number };
};

const int32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const frame = (payload: Buffer): Buffer => Buffer.concat([int32(payload.length), payload]);
const int64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(n)); return b; };

/** A server that accepts the session, then answers every request with the given error code. */
function fakeZooKeeper(errorCode: number): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((sock: Socket) => {
    connections++;
    let connected = false;
    let pending = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = pending.readInt32BE(0);
        const body = pending.subarray(4, 4 + size);
        pending = pending.subarray(4 + size);
        if (!connected) {
          connected = true;
          // ConnectResponse: protocolVersion, timeOut, sessionId, passwd (length-prefixed).
          sock.write(frame(Buffer.concat([int32(0), int32(30_000), int64(1), int32(16), Buffer.alloc(16, 7)])));
          continue;
        }
        const xid = body.readInt32BE(0);
        if (xid === -2) continue; // a ping
        // ReplyHeader: xid, zxid, err: an error code no ZooKeeper version defines.
        sock.write(frame(Buffer.concat([int32(xid), int64(5), int32(errorCode)])));
      }
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, connections: () => connections })));
}

describe('node-zookeeper-client with our patch', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => { for (const c of cleanups.splice(0)) c(); });

  it('an unknown error code in a reply fails the call with CONNECTION_LOSS and reconnects, instead of throwing from the socket handler', async () => {
    const zk = await fakeZooKeeper(358_679_417);
    cleanups.push(() => zk.server.close());
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => { uncaught.push(e); };
    process.on('uncaughtException', onUncaught);
    cleanups.push(() => process.off('uncaughtException', onUncaught));
    const client = zookeeper.createClient(`127.0.0.1:${zk.port}`, { sessionTimeout: 30_000, retries: 0, spinDelay: 50 });
    cleanups.push(() => client.close());
    await new Promise<void>((resolve) => { client.once('connected', resolve); client.connect(); });
    const code = await new Promise<number | null>((resolve) => client.getData('/hbase/meta-region-server', (err) => resolve(err ? err.getCode() : null)));
    expect(code).toBe(zookeeper.Exception.CONNECTION_LOSS);
    expect(uncaught).toEqual([]);
    // It reconnected rather than giving up.
    await expect.poll(() => zk.connections(), { timeout: 5000 }).toBeGreaterThanOrEqual(2);
  });
});
