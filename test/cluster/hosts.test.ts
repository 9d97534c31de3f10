/**
 * Workers on other hosts: the servers (Kafka, HBase, a private mariadbd) in one network namespace
 * at 10.77.0.1, the master and the stage workers in another at 10.77.0.2, joined by a veth pair
 * the test makes and removes. Nothing may assume 127.0.0.1: the servers bind to and advertise
 * 10.77.0.1 (STAGELINE_ADVERTISED_HOST), and the client side reaches them only over the link.
 *
 * Provisioning (`stack up`, which needs Java for the HBase admin tool) runs on the server side,
 * the one admin host. Everything on the client side (ingest, nightly --with-workers 1, report)
 * runs with a PATH holding nothing but `node` and no JAVA_HOME: stage workers need only Node and
 * the configuration. The workers' metrics listen on the client address (STAGELINE_METRICS_HOST)
 * and are scraped from the server side. One night end to end, compared with the reference.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { eventually, type CliResult } from '../support/harness.js';
import { stagePids } from '../support/faults.js';
import { expectOk, makeNetnsPair, nodeOnlyPath, privateStack, wallClock, type NetnsPair, type PrivateStack } from '../support/cluster.js';

const DAY = '2026-11-23';
const LINES = [...generateLines({ day: DAY, events: 12_000, merchants: 8, seed: 33 })];
const INPUT = `${LINES.join('\n')}\n`;
const METRICS_BASE = 29150;

const printWall = wallClock('hosts.test.ts');
const tag = String(process.pid % 100_000);
const ns = `hosts_${tag}`;
let net: NetnsPair;
let ps: PrivateStack;
let nodeOnly = '';
let serverEnv: Record<string, string> = {};
let clientEnv: Record<string, string> = {};
const notes: string[] = [];

beforeAll(async () => {
  net = makeNetnsPair(tag);
  // Inside its namespace each server may use any port: nothing else listens there.
  ps = privateStack('hosts', {
    STAGELINE_NAMESPACE: ns,
    STAGELINE_ADVERTISED_HOST: net.serverIp,
    STAGELINE_KAFKA_PORT: '29092',
    STAGELINE_KAFKA_HEAP_MB: '384',
    STAGELINE_HBASE_ZK_PORT: '22181',
    STAGELINE_HBASE_MASTER_PORT: '26000',
    STAGELINE_HBASE_REGIONSERVER_PORT: '26020',
    STAGELINE_HBASE_HEAP_MB: '768',
    STAGELINE_MYSQL_URL: `mysql://root@${net.serverIp}:29110`,
  });
  // The admin host: the machine's PATH (Java for the HBase admin tool).
  serverEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...ps.env };
  // A worker host: node and the configuration, nothing else.
  nodeOnly = nodeOnlyPath();
  clientEnv = { PATH: nodeOnly, HOME: process.env.HOME ?? '/root', ...ps.env, STAGELINE_METRICS_HOST: net.clientIp };
  const t0 = Date.now();
  const up = await net.cli(net.server, ['stack', 'up', '--namespace', ns], serverEnv);
  expectOk(up, 'stack up in the server namespace');
  notes.push(`  stack up on ${net.serverIp} (Kafka, HBase LocalCluster, private mariadbd, provisioning): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const svc of ['kafka', 'hbase', 'mysql']) {
    const line = up.stderr.split('\n').find((l) => l.startsWith(`${svc} `)) ?? '';
    expect(line, up.stderr).toMatch(/10\.77\.0\.1:\d+\s+started/);
  }
});

afterAll(async () => {
  if (net && ps) {
    const down = await net.cli(net.server, ['stack', 'down', '--namespace', ns], serverEnv);
    notes.push(`  stack down: ${down.stderr.trim().split('\n').join('; ')}`);
  }
  await net?.remove();
  await ps?.down();
  if (nodeOnly) rmSync(nodeOnly, { recursive: true, force: true });
  console.log(`\nservers on ${net?.serverIp ?? '?'}, master and workers on ${net?.clientIp ?? '?'}\n${notes.join('\n')}`);
  printWall();
});

it('the client namespace reaches the servers only over the link: nothing on its loopback', async () => {
  const probe = `const s=require('net').connect(${'29092'},'127.0.0.1');s.on('connect',()=>{console.log('open');process.exit(0)});s.on('error',()=>{console.log('closed');process.exit(0)})`;
  const r = await net.exec(net.client, [process.execPath, '-e', probe], { PATH: nodeOnly });
  expect(r.stdout.trim()).toBe('closed');
});

it('one night with the master and the workers in the other namespace, without Java, matches the reference', async () => {
  const ing = await net.cli(net.client, ['ingest', '-', '--json', '--rejects', '/dev/null', '--namespace', ns], clientEnv, INPUT);
  expectOk(ing, 'ingest from the client namespace');

  const t0 = Date.now();
  const night: Promise<CliResult> = net.cli(net.client, ['nightly', '--day', DAY, '--quiet', '--with-workers', '1', '--metrics-port', String(METRICS_BASE), '--namespace', ns], clientEnv);
  // The split replica runs in the client namespace and serves metrics on the client address:
  // scraped from the server namespace, i.e. from another host.
  const split = await eventually('the split replica running', async () => stagePids(ns, 'split')[0], 60_000, 100);
  expect(net.identify(split)).toBe(net.client);
  const scrape = `fetch('http://${net.clientIp}:${METRICS_BASE + 1}/metrics').then(async(r)=>{const t=await r.text();console.log(r.status, /stageline_stage_messages_handled_total\\{[^}]*stage="split"/.test(t))}).catch((e)=>console.log('error',e.cause?.code??e.message))`;
  const metrics = await eventually('split metrics scraped from the server namespace', async () => {
    const r = await net.exec(net.server, [process.execPath, '-e', scrape], { PATH: nodeOnly });
    return r.stdout.trim() === '200 true' ? r.stdout.trim() : false;
  }, 60_000, 500);
  expect(metrics).toBe('200 true');

  const r = await night;
  expectOk(r, 'nightly in the client namespace');
  notes.push(`  nightly --with-workers 1 across the link: ${((Date.now() - t0) / 1000).toFixed(1)} s (${LINES.length} events)`);
  const rep = await net.cli(net.client, ['report', '--day', DAY, '--json', '--namespace', ns], clientEnv);
  expectOk(rep, 'report');
  expect(diffSummaries(parseLines(rep.stdout), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
});
