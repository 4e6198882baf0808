/**
 * Deployment files against their published schemas, offline: every manifest of every k8s/
 * overlay and optional component, as `kubectl kustomize` renders them, against its kind's
 * OpenAPI schema (kubernetes-models' validators; the prometheus-operator and KEDA CRD schemas
 * for PodMonitor, ServiceMonitor, PrometheusRule, ScaledObject) and, for unknown or misspelt
 * fields, the TypeScript types generated from the same schemas; docker-compose.yml against the
 * Compose Specification's JSON schema (shipped by dclint) and against the code: env names and
 * values, port, healthchecks, drain time, Redis durability, volumes; the Dockerfile against
 * what the build and the tools need.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import ts from 'typescript';
import { parse } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { loadConfig } from '../../src/config';
import { COMMANDS } from '../../src/cli/index';
import { configVariables } from '../helpers/config-vars';
import { everyRender } from '../helpers/kustomize';

const ROOT = path.resolve(__dirname, '..', '..');
type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any };

// ---------------------------------------------------------------- Kubernetes schemas

type Model = { apiVersion: string; kind: string; new (data: never): { validate(): void } };
/** Each kind the manifests use, its validator and the module of its generated TypeScript type. */
const KINDS = new Map<string, { model: Model; module: string }>(
  (
    [
      [Namespace, 'kubernetes-models/v1/Namespace'],
      [ConfigMap, 'kubernetes-models/v1/ConfigMap'],
      [Secret, 'kubernetes-models/v1/Secret'],
      [Service, 'kubernetes-models/v1/Service'],
      [Deployment, 'kubernetes-models/apps/v1/Deployment'],
      [StatefulSet, 'kubernetes-models/apps/v1/StatefulSet'],
      [Job, 'kubernetes-models/batch/v1/Job'],
      [HorizontalPodAutoscaler, 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'],
      [PodDisruptionBudget, 'kubernetes-models/policy/v1/PodDisruptionBudget'],
      [Ingress, 'kubernetes-models/networking.k8s.io/v1/Ingress'],
      [NetworkPolicy, 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'],
      [PodMonitor, '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor'],
      [ServiceMonitor, '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'],
      [PrometheusRule, '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'],
      [ScaledObject, '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject'],
    ] as [Model, string][]
  ).map(([model, module]) => [`${model.apiVersion} ${model.kind}`, { model, module }]),
);

const kindOf = (d: Manifest) => {
  const k = KINDS.get(`${d.apiVersion} ${d.kind}`);
  assert.ok(k, `${d.apiVersion} ${d.kind} has a schema here (add its model to KINDS)`);
  return k;
};

/** The JSON-schema errors of one manifest (types, required fields, enums, formats). */
function schemaErrors(d: Manifest): string[] {
  try {
    new (kindOf(d).model)(structuredClone(d) as never).validate();
    return [];
  } catch (err) {
    return (err as Error).message.split(', ');
  }
}

/**
 * Unknown fields, which the OpenAPI schemas allow but `kubectl apply` (strict field validation)
 * refuses: each manifest becomes an object literal of its kind's generated type, and the
 * compiler's excess-property check reports any field the type does not have, at any depth.
 */
function strictFieldErrors(manifests: Manifest[]): string[][] {
  const file = path.join(ROOT, 'test', 'unit', '__manifests__.ts'); // in memory only
  const lines: string[] = [];
  const firstLine: number[] = [];
  manifests.forEach((d, i) => {
    const { module } = kindOf(d);
    firstLine.push(lines.length);
    lines.push(...`export const m${i}: import('${module}').I${d.kind} = ${JSON.stringify(d, null, 1)};`.split('\n'));
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists } = host;
  host.getSourceFile = (f, lang, ...rest) => (path.resolve(f) === file ? ts.createSourceFile(f, source, lang) : getSourceFile.call(host, f, lang, ...rest));
  host.fileExists = (f) => path.resolve(f) === file || fileExists.call(host, f);
  const errors: string[][] = manifests.map(() => []);
  for (const diag of ts.getPreEmitDiagnostics(ts.createProgram([file], options, host))) {
    assert.ok(diag.file && path.resolve(diag.file.fileName) === file, ts.flattenDiagnosticMessageText(diag.messageText, '\n'));
    const line = diag.file.getLineAndCharacterOfPosition(diag.start!).line;
    const i = firstLine.filter((l) => l <= line).length - 1;
    errors[i]!.push(`line ${line - firstLine[i]!}: ${lines[line]!.trim()} — ${ts.flattenDiagnosticMessageText(diag.messageText, ' ').slice(0, 300)}`);
  }
  return errors;
}

/** [where, manifest] of every render: the overlays, the optional components, the Grafana dashboard. */
const manifests: [string, Manifest][] = everyRender().flatMap(([label, docs]) => docs.map((d): [string, Manifest] => [label, d as Manifest]));

test("every Kubernetes manifest of every overlay and component validates against its kind's schema, with no unknown fields", () => {
  assert.ok(manifests.length >= 90, `found the manifests (${manifests.length})`);
  assert.deepEqual([...new Set(manifests.map(([, d]) => d.kind))].sort(), [
    'ConfigMap',
    'Deployment',
    'HorizontalPodAutoscaler',
    'Ingress',
    'Job',
    'Namespace',
    'NetworkPolicy',
    'PodDisruptionBudget',
    'PodMonitor',
    'PrometheusRule',
    'ScaledObject',
    'Service',
    'ServiceMonitor',
    'StatefulSet',
  ]);
  const strict = strictFieldErrors(manifests.map(([, d]) => d));
  manifests.forEach(([file, d], i) => {
    const where = `${file}: ${d.kind} ${d.metadata.name}`;
    assert.deepEqual(schemaErrors(d), [], where);
    assert.deepEqual(strict[i], [], where);
  });
});

test('the schema checks catch wrong types, missing fields and misspelt fields', () => {
  const find = (kind: string, name: string) => structuredClone(manifests.find(([, d]) => d.kind === kind && d.metadata.name === name)![1]);
  const broken = find('Deployment', 'chatbot-gateway');
  broken.spec.replicas = 'two';
  delete broken.spec.template.spec.containers[0].name;
  assert.match(schemaErrors(broken).join('\n'), /replicas must be integer[\s\S]*must have required property name/);
  const misspelt = find('StatefulSet', 'redis');
  misspelt.spec.volumeClaimTemplate = misspelt.spec.volumeClaimTemplates;
  const monitor = find('ServiceMonitor', 'chatbot');
  monitor.spec.endpoints[0].port = 3000; // a port *name* is expected
  assert.match(schemaErrors(monitor).join('\n'), /endpoints\/0\/port must be string/);
  const [typo, badPort] = strictFieldErrors([misspelt, monitor]);
  assert.match(typo!.join('\n'), /'"volumeClaimTemplate"' does not exist/);
  assert.match(badPort!.join('\n'), /Type 'number' is not assignable to type 'string'/);
});

// ---------------------------------------------------------------- docker-compose.yml

type ComposeService = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
  volumes?: string[];
  stop_grace_period?: string;
  read_only?: boolean;
};
type Compose = { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const composeText = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as Compose; // `<<:` merge keys, as Compose reads them
const { services } = compose;
const roles = ['gateway', 'worker', 'chatlog'] as const;

/** Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))/g, (all, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$$') return '$';
    const name = (braced ?? bare)!;
    const v = env[name];
    const missing = op?.startsWith(':') ? !v : v === undefined;
    if (op?.endsWith('?') && missing) throw new Error(`required variable ${name} is missing: ${arg}`);
    return missing && op?.endsWith('-') ? arg! : (v ?? '');
  });
}
const OPERATOR_ENV = { FB_APP_SECRET: 'compose-app-secret', FB_VERIFY_TOKEN: 'compose-verify', FB_PAGE_ACCESS_TOKEN: 'compose-page-token', POSTGRES_PASSWORD: 'pgsecret1' };
const envOf = (s: string, env: Record<string, string> = OPERATOR_ENV) => Object.fromEntries(Object.entries(services[s]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), env)]));

test('docker-compose.yml validates against the Compose Specification', () => {
  const dir = path.dirname(require.resolve('dclint/package.json'));
  const { $schema: _draft07, ...schema } = JSON.parse(fs.readFileSync(path.join(dir, 'schemas', 'compose.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, strictTypes: false }).compile(schema);
  assert.equal(validate(compose), true, JSON.stringify(validate.errors, null, 1));
  const broken = structuredClone(compose);
  broken.services.chatlog!.depends_on!.redis!.condition = 'service_ready';
  (broken.services.worker as Record<string, unknown>).replica = 2;
  assert.equal(validate(broken), false, 'the schema catches a bad condition and an unknown key');
  assert.equal(validate.errors!.length >= 2, true);
});

test('compose: one image for three roles and the migration, the worker scaled to 2, each starting once what it needs is ready', () => {
  assert.deepEqual(Object.keys(services).sort(), ['chatlog', 'gateway', 'migrate', 'postgres', 'redis', 'worker']);
  assert.deepEqual(
    roles.map((r) => envOf(r).ROLE),
    [...roles],
  );
  assert.equal(new Set(roles.map((r) => services[r]!.image)).size, 1, 'one image');
  for (const r of roles) assert.equal(services[r]!.build, '.', `${r} is built from the Dockerfile at the root`);
  assert.equal(services.worker!.deploy?.replicas, 2);
  const needs = (s: string) =>
    Object.entries(services[s]!.depends_on ?? {})
      .map(([dep, { condition }]) => `${dep}:${condition}`)
      .sort();
  assert.deepEqual(needs('gateway'), ['redis:service_healthy'], 'webhooks are accepted while PostgreSQL is down');
  assert.deepEqual(needs('worker'), ['redis:service_healthy']);
  assert.deepEqual(needs('chatlog'), ['migrate:service_completed_successfully', 'redis:service_healthy'], 'the schema is migrated first');
  assert.deepEqual(needs('migrate'), ['postgres:service_healthy']);
  const migrate = services.migrate!;
  assert.deepEqual([migrate.image, migrate.command, migrate.read_only], [services.chatlog!.image, ['ordered-chatbot', 'migrate'], true]);
  assert.ok(Object.hasOwn(COMMANDS, migrate.command![1]!), "a command of the image's dispatcher");
  assert.equal(envOf('migrate').DATABASE_URL, envOf('chatlog').DATABASE_URL);
  for (const dep of ['redis', 'postgres']) assert.ok(services[dep]!.healthcheck, `${dep} has a healthcheck for the conditions`);
});

test('compose: every variable is read by src/config.ts, the values pass its validation for each role, and secrets go only where used', () => {
  const known = configVariables(ROOT);
  for (const r of roles) {
    const env = envOf(r);
    for (const n of Object.keys(env)) assert.ok(known.has(n), `${r}: ${n} is read by src/config.ts`);
    const c = loadConfig(env);
    assert.deepEqual([c.production, c.role, c.port, c.host], [true, r, 3000, '0.0.0.0'], 'the published port reaches the container address');
  }
  assert.deepEqual(
    roles.map((r) =>
      Object.keys(envOf(r))
        .filter((n) => /^FB_|DATABASE_URL|ADMIN_TOKEN/.test(n))
        .sort(),
    ),
    [['ADMIN_TOKEN', 'DATABASE_URL', 'FB_APP_SECRET', 'FB_VERIFY_TOKEN'], ['FB_PAGE_ACCESS_TOKEN'], ['DATABASE_URL']],
  );
  // Like `docker compose up`, a missing secret stops everything with its message.
  assert.throws(() => envOf('gateway', { ...OPERATOR_ENV, FB_APP_SECRET: '' }), /FB_APP_SECRET is missing: set FB_APP_SECRET/);
  // The datastores: the URLs name the services, the database its user and name.
  const url = new URL(envOf('chatlog').DATABASE_URL!);
  const pg = envOf('postgres');
  assert.deepEqual([url.hostname, url.port, url.username, url.password, url.pathname.slice(1)], ['postgres', '5432', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, pg.POSTGRES_DB]);
  assert.equal(new URL(envOf('worker').REDIS_URL!).hostname, 'redis');
});

test('compose: the port, drain time and read-only root match the Dockerfile and the app', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const exposed = /^EXPOSE (\d+)$/m.exec(dockerfile)![1];
  assert.match(dockerfile, new RegExp(`^ENV .*PORT=${exposed}\\b`, 'm'));
  for (const r of roles) {
    const env = envOf(r);
    assert.equal(env.PORT, exposed);
    assert.ok(parseInt(services[r]!.stop_grace_period!, 10) * 1000 > Number(env.SHUTDOWN_TIMEOUT_MS), `${r}: Docker waits for the drain before SIGKILL`);
    assert.equal(services[r]!.read_only, true);
  }
  assert.deepEqual(services.gateway!.ports, [`${exposed}:${exposed}`]);
});

/** Runs a service's healthcheck command (["CMD", argv…]) with PORT pointing at `port`. */
function runHealthcheck(s: string, port: number): Promise<{ code: number; stderr: string }> {
  const [form, cmd, ...args] = services[s]!.healthcheck!.test;
  assert.deepEqual([form, cmd], ['CMD', 'node']);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, PORT: String(port) } });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr += b));
    child.on('exit', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

test("compose: the roles' healthcheck asks /healthz and /readyz and fails when either fails", async () => {
  const seen: string[] = [];
  let readyStatus = 200;
  const server = http.createServer((req, res) => {
    seen.push(req.url!);
    res.writeHead(req.url === '/readyz' ? readyStatus : req.url === '/healthz' ? 200 : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    assert.deepEqual(new Set(roles.map((r) => JSON.stringify(services[r]!.healthcheck))).size, 1, 'the same check for every role');
    assert.equal((await runHealthcheck('gateway', port)).code, 0);
    assert.deepEqual(seen.sort(), ['/healthz', '/readyz']);
    readyStatus = 503; // Redis unreachable
    const down = await runHealthcheck('worker', port);
    assert.deepEqual([down.code, down.stderr.trim()], [1, '/readyz 503']);
  } finally {
    server.close();
  }
});

test('compose: Redis with AOF (fsync every second) and no eviction, a named volume per datastore', () => {
  const flags = services.redis!.command!.join(' ');
  assert.match(flags, /^redis-server .*--appendonly yes --appendfsync everysec\b/);
  assert.match(flags, /--maxmemory-policy noeviction\b/);
  const mounts = (s: string) => (services[s]!.volumes ?? []).map((v) => v.split(':'));
  assert.deepEqual(mounts('redis'), [['redis-data', '/data']]);
  assert.deepEqual(mounts('postgres'), [['postgres-data', '/var/lib/postgresql/data']]);
  assert.deepEqual(Object.keys(compose.volumes).sort(), ['postgres-data', 'redis-data']);
  for (const r of roles) assert.equal(services[r]!.volumes, undefined, `${r} keeps no state`);
});
