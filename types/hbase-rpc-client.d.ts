/**
 * Declarations for the parts of hbase-rpc-client@0.1.15 (patched, see src/adapters/hbase.ts) that
 * src/adapters/hbase.ts uses: the client's ZooKeeper/meta bootstrap, region location, connections
 * and the raw protobuf ClientService stubs. Its high-level get/put/mput/Scan helpers are not
 * declared on purpose: the adapter does not use them (string conversions, unordered results).
 *
 * Protobuf messages come from protobufjs 2: `bytes` fields arrive as ByteBuffer objects (use
 * toBuffer()), uint64 as Long objects; in requests, Buffers and strings (UTF-8) are accepted.
 */
declare module 'hbase-rpc-client' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  namespace hbaseRpcClient {
    interface ClientOptions {
      zookeeperHosts: string[];
      /** ZooKeeper chroot of HBase. @defaultValue '/hbase' */
      zookeeperRoot?: string;
      /** Bounds the ZooKeeper bootstrap and each TCP connect, in ms. @defaultValue 30000 */
      rpcTimeout?: number;
      /** Bounds one RPC call, in ms. @defaultValue 5000 */
      callTimeout?: number;
      zookeeperReconnectTimeout?: number;
      tcpNoDelay?: boolean;
      effectiveUser?: string;
    }

    /** What region location returns and caches. */
    interface RegionLocation {
      /** Full region name: `<table>,<startKey>,<id>.<encoded>.` */
      name: Buffer;
      /** `host:port` of the hosting regionserver; null when unassigned (patched). */
      server: Buffer | null;
      startKey: Buffer;
      endKey: Buffer;
      /** Split parent or offline region (patched). */
      offline?: boolean;
    }

    interface ByteBufferLike {
      toBuffer(): Buffer;
    }
    interface LongLike {
      toString(): string;
      toNumber(): number;
    }

    interface CellPb {
      row: ByteBufferLike;
      family: ByteBufferLike;
      qualifier: ByteBufferLike;
      value: ByteBufferLike | null;
      timestamp: LongLike;
    }
    interface ResultPb {
      cell: CellPb[];
    }
    interface NameBytesPairPb {
      name: string;
      value: ByteBufferLike | null;
    }
    interface ResultOrExceptionPb {
      index: number | null;
      result: ResultPb | null;
      exception: NameBytesPairPb | null;
    }
    interface RegionActionResultPb {
      resultOrException: ResultOrExceptionPb[];
      exception: NameBytesPairPb | null;
    }
    interface GetResponsePb {
      result: ResultPb | null;
    }
    interface MutateResponsePb {
      processed: boolean | null;
    }
    interface ScanResponsePb {
      scannerId: LongLike | null;
      moreResults: boolean | null;
      /** Declared by the patch (ScanResponse field 8). */
      moreResultsInRegion: boolean | null;
      ttl: number | null;
      results: ResultPb[];
    }
    interface MultiResponsePb {
      regionActionResult: RegionActionResultPb[];
    }

    /** A server-side exception, as the RPC layer hands it to callbacks. */
    interface ExceptionResponsePb {
      exceptionClassName: string | null;
      stackTrace: string | null;
      doNotRetry: boolean | null;
    }

    /** Errors reach callbacks as: ExceptionResponsePb, Error (with `code` or `exceptionClassName`), or the string 'timedout'. */
    type RpcError = ExceptionResponsePb | (Error & { code?: string; exceptionClassName?: string }) | string;
    type Callback<T> = (err: RpcError | null | undefined, res: T) => void;

    interface ClientService {
      Get(req: object, cb: Callback<GetResponsePb>): void;
      Mutate(req: object, cb: Callback<MutateResponsePb>): void;
      Scan(req: object, cb: Callback<ScanResponsePb>): void;
      Multi(req: object, cb: Callback<MultiResponsePb>): void;
    }

    interface Connection extends EventEmitter {
      rpc: ClientService;
      socket: Socket;
      state: 'connecting' | 'ready';
    }

    interface Client extends EventEmitter {
      servers: Record<string, Connection>;
      zk: { close(cb?: () => void): void };
      /** Cached unless useCache is false, which drops the cached entry and reads hbase:meta. */
      locateRegion(table: string | Buffer, row: Buffer, useCache: boolean, cb: Callback<RegionLocation>): void;
      /** `serverName` is `host:port`. */
      getRegionConnection(serverName: string, cb: Callback<Connection>): void;
    }
  }

  function hbaseRpcClient(options: hbaseRpcClient.ClientOptions): hbaseRpcClient.Client;
  export = hbaseRpcClient;
}

/** The library's connection module; the patch exposes its built protobuf classes as `proto`. */
declare module 'hbase-rpc-client/lib/connection.js' {
  const Connection: { proto?: { MultiRequest: { prototype: object }; ScanRequest: { prototype: object } } };
  export = Connection;
}
