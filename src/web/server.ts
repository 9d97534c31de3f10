/**
 * `stageline web`: a read-only page over node:http (no framework). Routes map to the reads in
 * ./read.ts and the views in ./views.ts; /api/* returns the same data as JSON. uPlot is served
 * from node_modules/uplot/dist (an npm dependency, not vendored).
 *
 * Bound to 127.0.0.1 by default. Any other address needs a token (refused at start without one),
 * and with a token every request must carry `Authorization: Bearer <token>`, compared in constant
 * time (sha256 of both, timingSafeEqual) so response timing does not leak its prefix.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { App } from '../app.js';
import type { Logger } from '../log.js';
import { StagelineError, errorMessage } from '../errors.js';
import { dayProblem } from '../domain/day.js';
import { projectPath } from '../paths.js';
import type { SafeHtml } from './html.js';
import { readDay, readDays, readMerchant } from './read.js';
import { dayPage, daysPage, errorPage, merchantPage } from './views.js';
import { CHARTS_JS } from './client.js';

export interface WebOptions {
  host: string;
  port: number;
  token: string;
  log: Logger;
  /** today (UTC), for the days list's upper bound */
  today: () => string;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The request's bearer token equals ours; both sides hashed first so the compare is fixed-length. */
export function authorized(header: string | undefined, token: string): boolean {
  if (token === '') return true;
  const m = /^Bearer (.+)$/.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token)) && m !== null;
}

const STATIC: Record<string, { type: string; body: () => Buffer }> = {
  '/static/uPlot.iife.min.js': { type: 'text/javascript; charset=utf-8', body: () => readFileSync(projectPath('node_modules', 'uplot', 'dist', 'uPlot.iife.min.js')) },
  '/static/uPlot.min.css': { type: 'text/css; charset=utf-8', body: () => readFileSync(projectPath('node_modules', 'uplot', 'dist', 'uPlot.min.css')) },
  '/static/charts.js': { type: 'text/javascript; charset=utf-8', body: () => Buffer.from(CHARTS_JS) },
};

const HEADERS = {
  // Inline <style> only; scripts come from this server; the JSON island is not executed.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function dayParam(d: string): string {
  const problem = dayProblem(d);
  if (problem !== undefined) throw new HttpError(400, `day ${problem}`);
  return d;
}

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'bad percent-encoding in the path');
  }
};

type Reply = { status: number; type: string; body: string | Buffer };
const htmlReply = (h: SafeHtml, status = 200): Reply => ({ status, type: 'text/html; charset=utf-8', body: h.text });
const jsonReply = (v: unknown, status = 200): Reply => ({ status, type: 'application/json; charset=utf-8', body: JSON.stringify(v) });

async function route(app: App, opts: WebOptions, path: string): Promise<Reply> {
  const s = STATIC[path];
  if (s) return { status: 200, type: s.type, body: s.body() };
  const api = path.startsWith('/api/');
  const parts = (api ? path.slice(4) : path).split('/').filter(Boolean).map(decode);
  if (parts.length === 0 && !api) return htmlReply(daysPage(app.cfg.namespace, await readDays(app, opts.today())));
  if (parts[0] !== 'days') throw new HttpError(404, `no page ${path}`);
  if (parts.length === 1) {
    const days = await readDays(app, opts.today());
    return api ? jsonReply(days) : htmlReply(daysPage(app.cfg.namespace, days));
  }
  const day = dayParam(parts[1]!);
  if (parts.length === 2) {
    const v = await readDay(app, day);
    if (!v) throw new HttpError(404, `no run for ${day}`);
    if (api) return jsonReply(v);
    const items = await readDays(app, opts.today());
    return htmlReply(dayPage(v, items.find((d) => d.day === day)?.label ?? v.state));
  }
  if (parts.length === 4 && parts[2] === 'merchants') {
    const v = await readMerchant(app, day, parts[3]!);
    if (api) return v.report ? jsonReply(v) : jsonReply({ error: `no summary for ${v.merchant_id} on ${day}` }, 404);
    return htmlReply(merchantPage(v), v.report ? 200 : 404);
  }
  throw new HttpError(404, `no page ${path}`);
}

export async function startWeb(app: App, opts: WebOptions): Promise<WebServer> {
  if (!isLoopback(opts.host) && opts.token === '') {
    throw new StagelineError('INPUT_INVALID', `--host ${opts.host} is not a loopback address: set STAGELINE_WEB_TOKEN (every request must then send \`Authorization: Bearer <token>\`)`);
  }
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const api = url.pathname.startsWith('/api/');
    let reply: Reply;
    if (!authorized(req.headers.authorization, opts.token)) {
      res.writeHead(401, { ...HEADERS, 'www-authenticate': 'Bearer realm="stageline"', 'content-type': 'text/plain; charset=utf-8' }).end('a bearer token is required (Authorization: Bearer <STAGELINE_WEB_TOKEN>)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('read-only: GET only\n');
      return;
    }
    try {
      reply = await route(app, opts, url.pathname);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) opts.log.error({ err: errorMessage(err), path: url.pathname }, 'web request failed');
      const message = status === 500 ? `could not read: ${errorMessage(err)}` : errorMessage(err);
      reply = api ? jsonReply({ error: message }, status) : htmlReply(errorPage(status, message), status);
    }
    res.writeHead(reply.status, { ...HEADERS, 'content-type': reply.type, 'content-length': Buffer.byteLength(reply.body) });
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  };
  const server = createServer((req, res) => { void handle(req, res); });
  server.listen(opts.port, opts.host);
  await once(server, 'listening');
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}/`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
