/**
 * The datastores and monitoring of k8s/ (rendered with `kubectl kustomize`): the self-hosted
 * Redis Cluster, the dev overlay's single Redis and PostgreSQL hang together with the app's
 * settings; network policies open each datastore to exactly the pods that use it; KEDA, the
 * monitors and the Grafana dashboard use what the app exports.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics';
import { exampleSecrets, K8S, named as namedIn, of as ofIn, render, renderWith, selects, type Doc, type Labels } from '../helpers/kustomize';

const selfHosted = render('overlays/self-hosted');
const dev = render('overlays/dev');
const named = (kind: string, name: string, docs: Doc[] = selfHosted) => namedIn(docs, kind, name);
const of = (kind: string, docs: Doc[] = selfHosted) => ofIn(docs, kind);
const configOf = (docs: Doc[]) => ofIn(docs, 'ConfigMap').find((c) => c.metadata.name.startsWith('chatbot-config'))!.data!;
const configMap = configOf(selfHosted);
const secret = exampleSecrets().get('chatbot-secrets')!;

test('Redis Cluster: a StatefulSet with AOF everysec and cluster mode, a headless Service, volumes, and a one-shot create with 1 replica per master', () => {
  const sts = named('StatefulSet', 'redis');
  const svc = named('Service', sts.spec.serviceName);
  assert.equal(svc.spec.clusterIP, 'None', 'headless: stable pod names');
  assert.equal(svc.spec.publishNotReadyAddresses, true, 'nodes find each other before the cluster is up');
  assert.ok(selects({ matchLabels: svc.spec.selector }, sts.spec.template.metadata.labels));
  const c = sts.spec.template.spec.containers[0];
  const portOf = (name: string) => c.ports.find((p: { name: string }) => p.name === name).containerPort;
  assert.deepEqual([portOf('redis'), portOf('bus')], [6379, 16379]);
  assert.deepEqual(
    svc.spec.ports.map((p: { port: number }) => p.port),
    [6379, 16379],
  );

  const cm = named('ConfigMap', 'redis-cluster').data!;
  const conf = Object.fromEntries(
    cm['redis.conf']!.split('\n')
      .filter((l) => /^[a-z]/.test(l))
      .map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]),
  );
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
  assert.equal(configMap.REDIS_WAIT_REPLICAS, '1', 'a replica per master: acknowledge replicated writes');

  // The app's seeds are pods of this StatefulSet, on its client port.
  for (const seed of configMap.REDIS_CLUSTER_NODES!.split(',')) {
    const m = /^([a-z-]+)-(\d+)\.([a-z-]+):(\d+)$/.exec(seed);
    assert.ok(m, seed);
    assert.deepEqual([m[1], m[3], Number(m[4])], [sts.metadata.name, svc.metadata.name, 6379]);
    assert.ok(Number(m[2]) < sts.spec.replicas);
  }
});

test("the Redis start script points nodes.conf at the addresses the nodes' names resolve to now", () => {
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
    nodes[2],
    nodes[3],
    nodes[4],
  ]);
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const [overlay, docs] of [
  ['dev', dev],
  ['self-hosted', selfHosted],
] as const)
  test(`${overlay}: PostgreSQL, a StatefulSet with its volume, a headless Service, and the example Secret's DATABASE_URL pointing at them`, () => {
    const sts = named('StatefulSet', 'postgres', docs);
    const svc = named('Service', sts.spec.serviceName, docs);
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

for (const [overlay, docs] of [
  ['dev', dev],
  ['self-hosted', selfHosted],
] as const)
  test(`${overlay}: network policies deny by default, open the gateway's port, and open each datastore to exactly the pods that use it`, () => {
    const policies = of('NetworkPolicy', docs);
    const configMap = configOf(docs);
    assert.ok(
      policies.some((p) => p.spec.podSelector && Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress),
      'default deny',
    );
    const gw = policies.find((p) => p.spec.podSelector.matchLabels?.role === 'gateway')!;
    assert.equal(gw.spec.ingress[0].ports[0].port, Number(configMap.PORT));
    /** Which (pod, port) pairs may reach pods with `to` labels. */
    const allowed = (to: Labels, from: Labels, port: number) =>
      policies.some((p) => selects(p.spec.podSelector, to) && (p.spec.ingress ?? []).some((r: any) => r.ports.some((x: { port: number }) => x.port === port) && r.from.some((f: any) => f.podSelector && selects(f.podSelector, from))));
    const podLabels = (kind: string, name: string) => named(kind, name, docs).spec.template.metadata.labels as Labels;
    const redis = podLabels('StatefulSet', 'redis');
    const postgres = podLabels('StatefulSet', 'postgres');
    for (const d of [...of('Deployment', docs), named('Job', 'chatbot-migrate', docs)].filter((x) => x.metadata.labels?.app === 'chatbot')) {
      const labels = d.spec.template.metadata.labels as Labels;
      if (labels.role !== 'migrate') assert.ok(allowed(redis, labels, 6379), `${d.metadata.name} reaches Redis`);
      assert.equal(allowed(postgres, labels, 5432), labels.role !== 'worker', `${d.metadata.name} reaches PostgreSQL only if it uses it`);
    }
    if (overlay === 'dev') return;
    assert.ok(allowed(redis, redis, 16379) && allowed(redis, redis, 6379), 'Redis nodes reach each other (bus, replication)');
    assert.ok(allowed(redis, podLabels('Job', 'redis-cluster-init'), 6379), 'the create Job reaches the nodes');
  });

test('monitoring and autoscaling point at what the app exposes: a PodMonitor by default, a ServiceMonitor as the option, KEDA on queue depth', () => {
  const metricsSource = fs.readFileSync(path.join(K8S, '..', 'src', 'metrics.ts'), 'utf8');
  const withKeda = renderWith('keda-admin', ['overlays/production'], ['components/keda-worker', 'components/admin-host']);
  const keda = of('ScaledObject', withKeda)[0]!;
  assert.equal(keda.spec.scaleTargetRef.name, 'chatbot-worker');
  assert.deepEqual(
    of('HorizontalPodAutoscaler', withKeda).map((h) => h.metadata.name),
    ['chatbot-gateway'],
    "KEDA replaces the worker's CPU HPA",
  );
  for (const t of keda.spec.triggers) {
    const metric = /(cb_[a-z_]+)/.exec(t.metadata.query)?.[1];
    assert.ok(metric && metricsSource.includes(`'${metric}'`), `KEDA query uses a metric the app exports (${metric})`);
    assert.match(t.metadata.query, new RegExp(`\\{namespace="${keda.metadata.namespace}"\\}`), "KEDA counts this installation's queue");
  }
  const podMonitor = named('PodMonitor', 'chatbot', render('overlays/production'));
  const withServiceMonitor = renderWith('service-monitor', ['base'], ['components/params', 'components/service-monitor', 'components/alerts']);
  assert.equal(of('PodMonitor', withServiceMonitor).length, 0);
  const serviceMonitor = named('ServiceMonitor', 'chatbot', withServiceMonitor);
  const appPods = of('Deployment').map((d) => d.spec.template.metadata.labels as Labels);
  assert.ok(appPods.every((l) => selects(podMonitor.spec.selector, l)));
  assert.deepEqual([podMonitor.spec.podMetricsEndpoints[0].port, podMonitor.spec.podMetricsEndpoints[0].path], ['http', '/metrics']);
  // The ServiceMonitor finds a Service over every role, whose port leads to the containers' http port.
  const services = of('Service', withServiceMonitor).filter((s) => selects(serviceMonitor.spec.selector, s.metadata.labels ?? {}));
  assert.equal(services.length, 1);
  const svc = services[0]!;
  assert.ok(
    appPods.every((l) => selects({ matchLabels: svc.spec.selector }, l)),
    'the Service selects every role',
  );
  const endpoint = serviceMonitor.spec.endpoints[0];
  assert.equal(endpoint.path, '/metrics');
  assert.equal(svc.spec.ports.find((p: { name: string }) => p.name === endpoint.port).targetPort, 'http');
  for (const ep of [podMonitor.spec.podMetricsEndpoints[0], endpoint]) assert.deepEqual(ep.relabelings[0], { sourceLabels: ['__meta_kubernetes_pod_label_role'], targetLabel: 'role' });
});

test('dev: one Redis with AOF everysec and noeviction on a volume, which REDIS_URL names', () => {
  const sts = named('StatefulSet', 'redis', dev);
  assert.equal(sts.spec.replicas, 1);
  const args = sts.spec.template.spec.containers[0].args.join(' ');
  assert.match(args, /--appendonly yes --appendfsync everysec\b/);
  assert.match(args, /--maxmemory-policy noeviction\b/);
  assert.match(args, /--dir \/data\b/);
  assert.equal(sts.spec.template.spec.containers[0].volumeMounts[0].mountPath, '/data');
  const url = new URL(configOf(dev).REDIS_URL!);
  const svc = named('Service', url.hostname, dev);
  assert.ok(selects({ matchLabels: svc.spec.selector }, sts.spec.template.metadata.labels));
  assert.equal(svc.spec.ports[0].port, Number(url.port));
  assert.equal(configOf(dev).REDIS_WAIT_REPLICAS, undefined, 'no replica to wait for');
});

test('the Grafana dashboard charts metrics the app exports, with their labels, and its ConfigMap carries the same JSON', async () => {
  const file = path.join(K8S, 'grafana', 'chatbot-dashboard.json');
  const dashboard = JSON.parse(fs.readFileSync(file, 'utf8'));
  const cm = named('ConfigMap', 'chatbot-dashboard', render('grafana'));
  assert.deepEqual([cm.metadata.labels?.grafana_dashboard, cm.metadata.namespace], ['1', 'monitoring'], "where Grafana's sidecar looks");
  assert.deepEqual(JSON.parse(cm.data!['chatbot-dashboard.json']!), dashboard);

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
      for (const l of grouping)
        assert.ok(
          metrics.every((m) => exported.get(m)!.has(l)),
          `${where}: ${l} is a label of ${metrics.join(', ')}`,
        );
      for (const [, l] of (t.legendFormat as string).matchAll(/\{\{(\w+)\}\}/g)) assert.ok(grouping.includes(l!), `${where}: legend label ${l} is kept by the aggregation`);
      if (t.expr.includes('histogram_quantile')) assert.match(t.expr, /histogram_quantile\(0\.\d+, sum by \(le[,)][^]*_bucket\{/, where);
    }
  }
  for (const m of [
    'cb_webhook_ack_seconds_bucket',
    'cb_webhook_requests_total',
    'cb_events_processed_total',
    'cb_processing_seconds_bucket',
    'cb_queue_conversations_pending',
    'cb_queue_oldest_ready_seconds',
    'cb_send_errors_total',
    'cb_send_retries_total',
    'cb_send_unconfirmed_total',
    'cb_lock_contention_total',
    'cb_fenced_total',
    'cb_chatlog_lag_seconds',
    'cb_chatlog_rows_total',
    'cb_chatlog_write_errors_total',
    'cb_nlu_seconds_bucket',
    'cb_nlu_intents_total',
    'cb_dialog_fallbacks_total',
    'cb_action_calls_total',
    'cb_handoff_total',
  ])
    assert.ok(used.has(m), `the dashboard charts ${m}`);
});
