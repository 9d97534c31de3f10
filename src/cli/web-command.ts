/** `stageline web [--port P] [--host H]`: the read-only page (../web/), until SIGINT or SIGTERM. */
import { once } from 'node:events';
import type { Command, CommandContext } from './types.js';
import { createApp } from '../app.js';
import { startWeb, type WebServer } from '../web/server.js';

/** Starts the page on the config's host and port; the caller closes it. */
export async function serveWeb(ctx: CommandContext): Promise<{ server: WebServer; close(): Promise<void> }> {
  const app = createApp(ctx.cfg, ctx.log);
  try {
    const server = await startWeb(app, { host: ctx.cfg.web.host, port: ctx.cfg.web.port, token: ctx.cfg.web.token, log: ctx.log.child({ component: 'web' }), today: () => new Date().toISOString().slice(0, 10) });
    return { server, close: async () => { await server.close(); await app.close(); } };
  } catch (err) {
    await app.close();
    throw err;
  }
}

export const webCommand: Command = {
  needsNamespace: true,
  summary: 'a read-only web page of the nights: days, stages, chunk timeline, throughput, merchants (and /api/* JSON)',
  help: [
    'stageline web [--port P] [--host H]',
    '  Serves http://H:P/ (default 127.0.0.1:8080; --port 0 takes a free port) until Ctrl-C.',
    '  Pages: / (the days), /days/D (one night), /days/D/merchants/M (a merchant); JSON under /api/days, /api/days/D,',
    '  /api/days/D/merchants/M. A non-loopback --host needs STAGELINE_WEB_TOKEN, and every request then sends',
    '  `Authorization: Bearer <token>`. Reads only; changes nothing.',
  ].join('\n'),
  options: {},
  async run(ctx) {
    const web = await serveWeb(ctx);
    process.stdout.write(`stageline web: ${web.server.url}${ctx.cfg.web.token ? ' (bearer token required)' : ''}\n`);
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    await web.close();
    return 0;
  },
};
