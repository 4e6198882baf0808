/**
 * The Kubernetes manifests (k8s/**) agree with the code and with each other: env names and
 * values, probes, ports, drain time and security match the app, the self-hosted datastores hang
 * together, and monitoring and the Grafana dashboard use what the app exports. Validation
 * against the Kubernetes schemas is in deploy.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';
import { createMetrics } from '../../src/metrics';
import { configVariables } from '../helpers/config-vars';

const ROOT = path.resolve(__dirname, '..', '..');
const K8S = path.join(ROOT, 'k8s');
type Labels = Record<string, string>;
type Selector = { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Labels }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };

const yamlFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? yamlFiles(path.join(dir, d.name)) : d.name.endsWith('.yaml') ? [path.join(dir, d.name)] : []));
const fileOf = new Map<Doc, string>();
const docs: Doc[] = yamlFiles(K8S).flatMap((file) =>
  parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], `${file} parses`);
    const doc = d.toJS() as Doc;
    fileOf.set(doc, path.relative(K8S, file));
    return doc;
  }),
);
const of = (kind: string) => docs.filter((d) => d.kind === kind);
const named = (kind: string, name: string) => {
  const d = of(kind).find((x) => x.metadata.name === name);
  assert.ok(d, `${kind} ${name} exists`);
  return d;
};
const configMap = named('ConfigMap', 'chatbot-config').data!;
const secret = of('Secret')[0]!.stringData!;
const deployments = of('Deployment');
const podSpecs = [...deployments, ...of('StatefulSet'), ...of('Job')].map((d) => ({ name: `${d.kind} ${d.metadata.name}`, labels: d.spec.template.metadata?.labels ?? {}, pod: d.spec.template.spec }));

/** Does a label selector select these labels (matchLabels and the In / NotIn / Exists operators)? */
function selects(s: Selector, labels: Labels): boolean {
  const byLabels = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (s.matchExpressions ?? []).every((e) =>
    e.operator === 'In' ? e.values!.includes(labels[e.key]!) : e.operator === 'NotIn' ? !e.values!.includes(labels[e.key]!) : e.operator === 'Exists' ? e.key in labels : !(e.key in labels),
  );
  return byLabels && byExpr;
}

/** Every variable the config module reads, from its source. */
const known = configVariables(ROOT);

test('every manifest is a kind the project means to ship', () => {
  assert.deepEqual([...new Set(docs.map((d) => d.kind))].sort(), [
    'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Job', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'PodMonitor', 'ScaledObject', 'Secret', 'Service', 'ServiceMonitor', 'StatefulSet',
  ]);
});

test('the three roles are deployed, and every environment variable they get is read and accepted by the config module', () => {
  assert.deepEqual(deployments.map((d) => d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'ROLE').value).sort(), ['chatlog', 'gateway', 'worker']);
  const names = [...Object.keys(configMap), ...Object.keys(secret), ...deployments.flatMap((d) => d.spec.template.spec.containers.flatMap((c: { env?: { name: string }[] }) => (c.env ?? []).map((e) => e.name)))];
  assert.ok(known.size > 20, `found the config's variables (${known.size})`);
  for (const n of names) assert.ok(known.has(n), `${n} is read by src/config.ts`);
  for (const d of deployments) {
    const env = { ...configMap, ...secret, ...Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value])) };
    const c = loadConfig(env);
    assert.equal(c.production, true);
    assert.equal(c.role, env.ROLE);
    assert.equal(c.host, '0.0.0.0', 'the Service and the probes reach the pod address');
  }
});

test('probes, ports, drain time and security contexts match the app', () => {
  const port = Number(configMap.PORT);
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(c.ports.find((p: { name: string }) => p.name === 'http').containerPort, port, `${d.metadata.name} port`);
    assert.deepEqual([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
    assert.equal(c.readinessProbe.httpGet.port, 'http');
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > Number(configMap.SHUTDOWN_TIMEOUT_MS), `${d.metadata.name}: the grace period outlasts the drain`);
    const pdb = of('PodDisruptionBudget').find((p) => JSON.stringify(p.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels));
    assert.ok(pdb, `${d.metadata.name} has a PodDisruptionBudget`);
  }
  const hpaTargets = of('HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name).sort();
  assert.deepEqual(hpaTargets, ['chatbot-gateway', 'chatbot-worker']);
  const ingress = of('Ingress')[0]!;
  assert.equal(ingress.spec.rules[0].http.paths[0].path, '/webhook');
});

test('every pod, the datastores included, runs as non-root, read-only, without privileges, with requests and limits', () => {
  assert.equal(podSpecs.length, 6);
  for (const { name, pod } of podSpecs) {
    assert.equal(pod.securityContext.runAsNonRoot, true, name);
    assert.ok(pod.securityContext.runAsUser > 0, `${name} runs as a non-root uid`);
    for (const c of pod.containers) {
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], name);
      for (const k of ['requests', 'limits']) assert.ok(c.resources[k].cpu && c.resources[k].memory, `${name}: cpu and memory ${k}`);
    }
  }
});

test('Redis Cluster: a StatefulSet with AOF everysec and cluster mode, a headless Service, volumes, and a one-shot create with 1 replica per master', () => {
  const sts = named('StatefulSet', 'redis');
  const svc = named('Service', sts.spec.serviceName);
  assert.equal(svc.spec.clusterIP, 'None', 'headless: stable pod names');
  assert.equal(svc.spec.publishNotReadyAddresses, true, 'nodes find each other before the cluster is up');
  assert.ok(selects({ matchLabels: svc.spec.selector }, sts.spec.template.metadata.labels));
  const c = sts.spec.template.spec.containers[0];
  const portOf = (name: string) => c.ports.find((p: { name: string }) => p.name === name).containerPort;
  assert.deepEqual([portOf('redis'), portOf('bus')], [6379, 16379]);
  assert.deepEqual(svc.spec.ports.map((p: { port: number }) => p.port), [6379, 16379]);

  const cm = named('ConfigMap', 'redis-cluster').data!;
  const conf = Object.fromEntries(cm['redis.conf']!.split('\n').filter((l) => /^[a-z]/.test(l)).map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
  assert.deepEqual([conf.appendonly, conf.appendfsync, conf['cluster-enabled'], conf['maxmemory-policy'], conf.port], ['yes', 'everysec', 'yes', 'noeviction', '6379']);
  const gib = (q: string) => Number(/^(\d+)/.exec(q)![1]) * (/^\d+(gb|Gi)$/.test(q) ? 1 : NaN);
  assert.ok(gib(conf.maxmemory!) < gib(c.resources.limits.memory), 'maxmemory leaves room below the memory limit for the AOF rewrite fork');
  // The data directory, nodes.conf and the AOF are on the claimed volume; the config is the ConfigMap.
  const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
  assert.equal(mounts[conf.dir!], sts.spec.volumeClaimTemplates[0].metadata.name);
  assert.ok(conf['cluster-config-file']!.startsWith(`${conf.dir}/`));
  assert.ok(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage);
  assert.deepEqual(c.command, ['sh', '/etc/redis/start.sh']);
  assert.equal(sts.spec.template.spec.volumes.find((v: { name: string }) => v.name === mounts['/etc/redis']).configMap.name, 'redis-cluster');

  // 3 masters with 1 replica each, created by the Job from the same ConfigMap.
  assert.equal(sts.spec.replicas, 6);
  const job = named('Job', 'redis-cluster-init');
  const jc = job.spec.template.spec.containers[0];
  assert.equal(jc.command[1], '/etc/redis/create-cluster.sh');
  assert.equal(job.spec.template.spec.volumes[0].configMap.name, 'redis-cluster');
  assert.equal(Number(jc.env.find((e: { name: string }) => e.name === 'REDIS_NODES').value), sts.spec.replicas);
  assert.match(cm['create-cluster.sh']!, /redis-cli --cluster create \$addrs --cluster-replicas 1 /);
  assert.match(cm['create-cluster.sh']!, new RegExp(`host="${sts.metadata.name}-\\$i\\.${svc.metadata.name}"`));
  for (const script of ['start.sh', 'create-cluster.sh']) execFileSync('sh', ['-n', '-c', cm[script]!]); // parses

  // The app's seeds are pods of this StatefulSet, on its client port.
  for (const seed of configMap.REDIS_CLUSTER_NODES!.split(',')) {
    const m = /^([a-z-]+)-(\d+)\.([a-z-]+):(\d+)$/.exec(seed);
    assert.ok(m, seed);
    assert.deepEqual([m[1], m[3], Number(m[4])], [sts.metadata.name, svc.metadata.name, 6379]);
    assert.ok(Number(m[2]) < sts.spec.replicas);
  }
});

test('the Redis start script points nodes.conf at the addresses the nodes\' names resolve to now', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-redis-start-'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  // getent as the pod would see it after every pod moved; redis-server prints what it would run.
  fs.writeFileSync(path.join(bin, 'getent'), '#!/bin/sh\ncase "$2" in redis-0.*) echo "10.9.0.10 $2";; redis-1.*) echo "10.9.0.11 $2";; *) exit 2;; esac\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'redis-server'), '#!/bin/sh\necho "redis-server $*"\n', { mode: 0o755 });
  const nodes = [
    // Redis 7.0 (hostname only) and 7.2 (hostname, then aux fields) formats; a node whose name does not resolve; one without a name.
    'a1 10.1.0.5:6379@16379,redis-0.redis.chatbot.svc myself,master - 0 0 1 connected 0-5460',
    'b2 10.1.0.6:6379@16379,redis-1.redis.chatbot.svc,tls-port=0,shard-id=f00 slave a1 0 1700000000000 1 connected',
    'c3 10.1.0.7:6379@16379,redis-2.redis.chatbot.svc master - 0 1700000000000 3 connected 10923-16383',
    'd4 10.1.0.8:6379@16379, master - 0 1700000000000 2 connected 5461-10922',
    'vars currentEpoch 3 lastVoteEpoch 0',
  ];
  fs.writeFileSync(path.join(dir, 'nodes.conf'), `${nodes.join('\n')}\n`);
  const out = execFileSync('sh', ['-c', named('ConfigMap', 'redis-cluster').data!['start.sh']!], {
    env: { PATH: `${bin}:${process.env.PATH}`, REDIS_DATA: dir, POD_NAME: 'redis-0', POD_NAMESPACE: 'chatbot' },
    encoding: 'utf8',
  });
  assert.equal(out.trim(), 'redis-server /etc/redis/redis.conf --cluster-announce-hostname redis-0.redis.chatbot.svc');
  assert.deepEqual(fs.readFileSync(path.join(dir, 'nodes.conf'), 'utf8').trim().split('\n'), [
    'a1 10.9.0.10:6379@16379,redis-0.redis.chatbot.svc myself,master - 0 0 1 connected 0-5460',
    'b2 10.9.0.11:6379@16379,redis-1.redis.chatbot.svc,tls-port=0,shard-id=f00 slave a1 0 1700000000000 1 connected',
    nodes[2], nodes[3], nodes[4],
  ]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('PostgreSQL: a StatefulSet with its volume, a headless Service, and the DATABASE_URL of the Secret pointing at them', () => {
  const sts = named('StatefulSet', 'postgres');
  const svc = named('Service', sts.spec.serviceName);
  assert.equal(svc.spec.clusterIP, 'None');
  const c = sts.spec.template.spec.containers[0];
  const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  const url = new URL(secret.DATABASE_URL!);
  assert.deepEqual([url.hostname, Number(url.port), url.pathname.slice(1), url.username], [svc.metadata.name, svc.spec.ports[0].port, env.POSTGRES_DB, env.POSTGRES_USER]);
  assert.equal(c.ports.find((p: { name: string }) => p.name === svc.spec.ports[0].targetPort).containerPort, 5432);
  assert.deepEqual(c.env.find((e: { name: string }) => e.name === 'POSTGRES_PASSWORD').valueFrom.secretKeyRef, { name: 'chatbot-postgres', key: 'POSTGRES_PASSWORD' });
  const data = c.volumeMounts.find((m: { name: string }) => m.name === sts.spec.volumeClaimTemplates[0].metadata.name);
  assert.ok(env.PGDATA.startsWith(`${data.mountPath}/`), 'PGDATA is on the claimed volume');
  assert.deepEqual(c.readinessProbe.exec.command.slice(-4), ['-U', env.POSTGRES_USER, '-d', env.POSTGRES_DB]);
});

test('network policies deny by default, open the gateway\'s port, and open each datastore to exactly the pods that use it', () => {
  const policies = of('NetworkPolicy');
  assert.ok(policies.some((p) => p.spec.podSelector && Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress), 'default deny');
  const gw = policies.find((p) => p.spec.podSelector.matchLabels?.role === 'gateway')!;
  assert.equal(gw.spec.ingress[0].ports[0].port, Number(configMap.PORT));
  /** Which (pod, port) pairs may reach pods with `to` labels. */
  const allowed = (to: Labels, from: Labels, port: number) =>
    policies.some((p) => selects(p.spec.podSelector, to) && (p.spec.ingress ?? []).some((r: any) => r.ports.some((x: { port: number }) => x.port === port) && r.from.some((f: any) => f.podSelector && selects(f.podSelector, from))));
  const podLabels = (kind: string, name: string) => named(kind, name).spec.template.metadata.labels as Labels;
  const redis = podLabels('StatefulSet', 'redis');
  const postgres = podLabels('StatefulSet', 'postgres');
  for (const d of deployments) {
    const labels = d.spec.template.metadata.labels as Labels;
    assert.ok(allowed(redis, labels, 6379), `${d.metadata.name} reaches Redis`);
    assert.equal(allowed(postgres, labels, 5432), labels.role !== 'worker', `${d.metadata.name} reaches PostgreSQL only if it uses it`);
  }
  assert.ok(allowed(redis, redis, 16379) && allowed(redis, redis, 6379), 'Redis nodes reach each other (bus, replication)');
  assert.ok(allowed(redis, podLabels('Job', 'redis-cluster-init'), 6379), 'the create Job reaches the nodes');
});

test('monitoring and autoscaling point at what the app exposes: a PodMonitor by default, a ServiceMonitor as the option', () => {
  const metricsSource = fs.readFileSync(path.join(ROOT, 'src', 'metrics.ts'), 'utf8');
  const keda = of('ScaledObject')[0]!;
  assert.equal(keda.spec.scaleTargetRef.name, 'chatbot-worker');
  for (const t of keda.spec.triggers) {
    const metric = /(cb_[a-z_]+)/.exec(t.metadata.query)?.[1];
    assert.ok(metric && metricsSource.includes(`'${metric}'`), `KEDA query uses a metric the app exports (${metric})`);
  }
  const podMonitor = named('PodMonitor', 'chatbot');
  const serviceMonitor = named('ServiceMonitor', 'chatbot');
  assert.deepEqual([fileOf.get(podMonitor), fileOf.get(serviceMonitor)], ['pod-monitor.yaml', path.join('optional', 'service-monitor.yaml')]);
  const appPods = deployments.map((d) => d.spec.template.metadata.labels as Labels);
  assert.ok(appPods.every((l) => selects(podMonitor.spec.selector, l)));
  assert.deepEqual([podMonitor.spec.podMetricsEndpoints[0].port, podMonitor.spec.podMetricsEndpoints[0].path], ['http', '/metrics']);
  // The ServiceMonitor finds a Service over every role, whose port leads to the containers' http port.
  const services = of('Service').filter((s) => selects(serviceMonitor.spec.selector, s.metadata.labels ?? {}));
  assert.equal(services.length, 1);
  const svc = services[0]!;
  assert.ok(appPods.every((l) => selects({ matchLabels: svc.spec.selector }, l)), 'the Service selects every role');
  const endpoint = serviceMonitor.spec.endpoints[0];
  assert.equal(endpoint.path, '/metrics');
  assert.equal(svc.spec.ports.find((p: { name: string }) => p.name === endpoint.port).targetPort, 'http');
  for (const ep of [podMonitor.spec.podMetricsEndpoints[0], endpoint]) assert.deepEqual(ep.relabelings[0], { sourceLabels: ['__meta_kubernetes_pod_label_role'], targetLabel: 'role' });
});

test('the Grafana dashboard charts metrics the app exports, with their labels, and its ConfigMap carries the same JSON', async () => {
  const file = path.join(K8S, 'grafana', 'chatbot-dashboard.json');
  const dashboard = JSON.parse(fs.readFileSync(file, 'utf8'));
  const cm = named('ConfigMap', 'chatbot-dashboard');
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
  assert.deepEqual(JSON.parse(cm.data!['chatbot-dashboard.json']!), dashboard, 'regenerate dashboard-configmap.yaml from the JSON');

  // Every series the app's registry exposes (histograms as _bucket/_sum/_count), with its labels.
  const { registry } = createMetrics();
  const exported = new Map<string, Set<string>>();
  for (const m of await registry.getMetricsAsJSON()) {
    // Its own labels, and those Prometheus adds to every series of a pod (role: by the monitors' relabeling).
    const own = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set([...own, 'namespace', 'pod', 'role']);
    for (const suffix of String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']) exported.set(m.name + suffix, suffix === '_bucket' ? new Set([...labels, 'le']) : labels);
  }
  const panels = dashboard.panels.filter((p: { type: string }) => p.type !== 'row');
  assert.equal(new Set(dashboard.panels.map((p: { id: number }) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
  const used = new Set<string>();
  for (const p of panels) {
    assert.ok(p.targets.length > 0 && p.gridPos.w > 0, p.title);
    for (const t of p.targets) {
      const where = `${p.title}: ${t.expr}`;
      const metrics = [...t.expr.matchAll(/\b([a-z_][a-z0-9_]*)\{/g)].map((m) => m[1]!);
      assert.ok(metrics.length > 0, where);
      assert.equal(metrics.length, (t.expr.match(/\b(?:cb|process|nodejs)_[a-z0-9_]+/g) ?? []).length, `${where}: every metric has a selector`);
      for (const m of metrics) {
        assert.ok(exported.has(m), `${where}: ${m} is exported by src/metrics.ts`);
        used.add(m);
      }
      assert.equal((t.expr.match(/\{namespace="\$namespace"/g) ?? []).length, metrics.length, `${where}: filtered by the namespace variable`);
      const grouping = [...t.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l: string) => l.trim()));
      for (const l of grouping) assert.ok(metrics.every((m) => exported.get(m)!.has(l)), `${where}: ${l} is a label of ${metrics.join(', ')}`);
      for (const [, l] of (t.legendFormat as string).matchAll(/\{\{(\w+)\}\}/g)) assert.ok(grouping.includes(l!), `${where}: legend label ${l} is kept by the aggregation`);
      if (t.expr.includes('histogram_quantile')) assert.match(t.expr, /histogram_quantile\(0\.\d+, sum by \(le[,)][^]*_bucket\{/, where);
    }
  }
  for (const m of [
    'cb_webhook_ack_seconds_bucket', 'cb_webhook_requests_total', 'cb_events_processed_total', 'cb_processing_seconds_bucket', 'cb_queue_conversations_pending',
    'cb_queue_oldest_ready_seconds', 'cb_send_errors_total', 'cb_send_retries_total', 'cb_send_unconfirmed_total', 'cb_lock_contention_total', 'cb_fenced_total',
    'cb_chatlog_lag_seconds', 'cb_chatlog_rows_total', 'cb_chatlog_write_errors_total', 'cb_nlu_seconds_bucket', 'cb_nlu_intents_total', 'cb_dialog_fallbacks_total',
    'cb_action_calls_total', 'cb_handoff_total',
  ]) assert.ok(used.has(m), `the dashboard charts ${m}`);
});
