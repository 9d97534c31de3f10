/**
 * Brings the stack up once for the integration project, through the same code as `stageline stack
 * up` (a running stack is reused and costs a readiness check). With STAGELINE_TEST_STACK=containers
 * and a Docker engine, the servers come from testcontainers instead (see test/support/containers.ts).
 */
import { existsSync } from 'node:fs';
import { buildConfig } from '../../src/config.js';
import { stackOptions, stackUp } from '../../src/stack/index.js';

export default async function setup(): Promise<void> {
  const t0 = Date.now();
  if (process.env.STAGELINE_TEST_STACK === 'containers') {
    if (!existsSync('/var/run/docker.sock')) throw new Error('STAGELINE_TEST_STACK=containers needs a Docker engine (/var/run/docker.sock)');
    const { startContainers } = await import('../support/containers.js');
    await startContainers();
    process.stderr.write(`[stack] containers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    return;
  }
  const cfg = buildConfig(process.env);
  const services = await stackUp(stackOptions(cfg), (m) => process.stderr.write(`[stack] ${m}\n`));
  const detail = services.map((s) => `${s.name} ${s.state === 'external' ? 'external' : s.startedNow ? `started ${(s.ms / 1000).toFixed(1)} s` : 'reused'}`).join(', ');
  process.stderr.write(`[stack] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${detail})\n`);
}
