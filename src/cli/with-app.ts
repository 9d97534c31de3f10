/** A command's App: created for the command, closed when it is done (also on errors). */
import { createApp, type App } from '../app.js';
import type { CommandContext } from './types.js';

export async function withApp<T>(ctx: CommandContext, fn: (app: App) => Promise<T>): Promise<T> {
  const app = createApp(ctx.cfg, ctx.log);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}
