/**
 * The Kubernetes package (k8s/, rendered with `kubectl kustomize`) against the code: every
 * role's environment is read and accepted by the config module with the example Secrets and
 * files; probes, ports and drain time match the app; Pod Security "restricted"; every public
 * path routed over TLS; the migration Job runs the CLI; the alerts use exported metrics and
 * link to their runbook. The datastores and monitoring: k8s-datastores.test.ts. Schemas:
 * deploy.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/index';
import { loadCliConfig, loadConfig } from '../../src/config';
import { createMetrics } from '../../src/metrics';
import { configVariables } from '../helpers/config-vars';
import { envFile, everyRender, exampleSecrets, K8S, named, of, OVERLAYS, podsOf, render, renderWith, ROOT, type Doc } from '../helpers/kustomize';

const known = configVariables(ROOT);
const FILES = path.join(K8S, 'examples', 'files');
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } };
/** A container's environment as the kubelet would make it, with the example Secrets' values; files moved to the examples. */
function environment(docs: Doc[], c: { env?: EnvVar[]; envFrom?: { configMapRef?: { name: string } }[] }): Record<string, string> {
  const secrets = exampleSecrets();
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) Object.assign(env, named(docs, 'ConfigMap', from.configMapRef!.name).data);
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const value = ref ? secrets.get(ref.name)?.[ref.key] : e.value;
    assert.ok(value !== undefined || ref?.optional, `${e.name}: the example Secret ${ref?.name} has ${ref?.key}`);
    if (value !== undefined) env[e.name] = value;
  }
  for (const [k, v] of Object.entries(env)) if (v.startsWith('/etc/chatbot/')) env[k] = path.join(FILES, path.basename(v));
  return env;
}

for (const overlay of OVERLAYS) {
  const docs = render(`overlays/${overlay}`);
  const deployments = of(docs, 'Deployment').filter((d) => d.metadata.labels?.app === 'chatbot');

  test(`${overlay}: every role's variables are read and accepted by the config module, with the example Secrets and files`, () => {
    assert.deepEqual(deployments.map((d) => d.spec.template.spec.containers[0].env.find((e: EnvVar) => e.name === 'ROLE').value).sort(), ['chatlog', 'gateway', 'worker']);
    assert.ok(known.size > 20, `found the config's variables (${known.size})`);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      const env = environment(docs, c);
      for (const n of Object.keys(env)) assert.ok(known.has(n), `${d.metadata.name}: ${n} is read by src/config.ts`);
      const config = loadConfig(env);
      assert.deepEqual([config.production, config.role, config.port], [true, env.ROLE, 3000]);
      assert.equal(config.host, '0.0.0.0', 'the Service and the probes reach the pod address');
      // Every file setting points into a volume the container mounts.
      const settings = named(docs, 'ConfigMap', c.envFrom[0].configMapRef.name).data!;
      for (const [k, v] of Object.entries(settings).filter(([k]) => k.endsWith('_FILE'))) {
        if (v)
          assert.ok(
            c.volumeMounts.some((m: { mountPath: string }) => v.startsWith(`${m.mountPath}/`)),
            `${d.metadata.name}: ${k}=${v} is in a mounted volume`,
          );
      }
    }
    const job = named(docs, 'Job', 'chatbot-migrate').spec.template.spec.containers[0];
    assert.deepEqual(job.command, ['ordered-chatbot', 'migrate']);
    assert.ok(Object.hasOwn(COMMANDS, job.command[1]), 'migrate is a command of the dispatcher');
    assert.ok(loadCliConfig(environment(docs, job)).databaseUrl, 'the Job gets DATABASE_URL');
    const chatlog = named(docs, 'Deployment', 'chatbot-chatlog').spec.template.spec.containers[0];
    assert.deepEqual(
      job.env.find((e: EnvVar) => e.name === 'DATABASE_URL'),
      chatlog.env.find((e: EnvVar) => e.name === 'DATABASE_URL'),
      'the same database as the chatlog role',
    );
    assert.equal(job.image, chatlog.image, 'the same image: its migrations');
  });

  test(`${overlay}: probes, ports, drain time and replicas match the app`, () => {
    const config = named(docs, 'ConfigMap', deployments[0]!.spec.template.spec.containers[0].envFrom[0].configMapRef.name).data!;
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      assert.equal(c.ports.find((p: { name: string }) => p.name === 'http').containerPort, Number(config.PORT), `${d.metadata.name} port`);
      assert.deepEqual([c.startupProbe.httpGet.path, c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path], ['/healthz', '/readyz', '/healthz']);
      assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 120, `${d.metadata.name}: two minutes to start`);
      for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.equal(c[p].httpGet.port, 'http');
      assert.ok(pod.terminationGracePeriodSeconds * 1000 > Number(config.SHUTDOWN_TIMEOUT_MS), `${d.metadata.name}: the grace period outlasts the drain`);
      assert.ok(
        of(docs, 'PodDisruptionBudget').some((p) => JSON.stringify(p.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels) && p.spec.maxUnavailable === 1),
        `${d.metadata.name}: a PodDisruptionBudget that still lets a single replica be drained`,
      );
      assert.match(c.image, /^registry\.example\.com\/ordered-chatbot:/, 'the overlay sets the image');
    }
    const svc = named(docs, 'Service', 'chatbot-gateway');
    assert.equal(svc.spec.ports[0].targetPort, 'http');
    const hpas = of(docs, 'HorizontalPodAutoscaler')
      .map((h) => h.spec.scaleTargetRef.name)
      .sort();
    if (overlay === 'dev') {
      assert.deepEqual([hpas, deployments.map((d) => d.spec.replicas)], [[], [1, 1, 1]], 'dev: one replica of each role');
    } else assert.deepEqual(hpas, ['chatbot-gateway', 'chatbot-worker']);
    if (overlay !== 'dev') assert.equal(config.REDIS_WAIT_REPLICAS, '1', 'acknowledged writes reach a replica');
    assert.equal(config.NODE_ENV, 'production');
  });

  test(`${overlay}: Pod Security "restricted" for every pod, the datastores' too; the app writes only to emptyDirs`, () => {
    const ns = of(docs, 'Namespace');
    assert.equal(ns.length, 1);
    assert.equal(ns[0]!.metadata.labels!['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const d of docs) if (d.kind !== 'Namespace') assert.equal(d.metadata.namespace, ns[0]!.metadata.name, `${d.kind} ${d.metadata.name} in the overlay's namespace`);
    const pods = podsOf(docs);
    assert.ok(pods.length >= 4);
    for (const { name, pod } of pods) {
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      assert.ok(pod.securityContext.runAsUser > 0, `${name} runs as a non-root uid`);
      assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', name);
      assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC, name);
      for (const v of pod.volumes ?? [])
        assert.ok(
          ['emptyDir', 'secret', 'configMap', 'persistentVolumeClaim'].some((t) => t in v),
          `${name}: volume ${v.name} is of a type "restricted" allows`,
        );
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], name);
        assert.equal(c.securityContext.privileged, undefined, name);
        for (const k of ['requests', 'limits']) assert.ok(c.resources[k].cpu && c.resources[k].memory, `${name}: cpu and memory ${k}`);
      }
    }
    // The image's writable defaults (DATA_DIR: the NLU cache, train's output) are on an emptyDir.
    const dataDir = /^ENV .*\bDATA_DIR=(\S+)/m.exec(dockerfile)?.[1];
    assert.ok(dataDir, 'the Dockerfile sets DATA_DIR');
    for (const { name, pod, labels } of pods.filter((p) => p.labels.app === 'chatbot')) {
      const emptyDirs = new Set(pod.volumes.filter((v: { emptyDir?: object }) => v.emptyDir).map((v: { name: string }) => v.name));
      assert.ok(
        pod.containers[0].volumeMounts.some((m: { name: string; mountPath: string }) => emptyDirs.has(m.name) && dataDir.startsWith(`${m.mountPath}/`)),
        `${name} (${labels.role}): DATA_DIR ${dataDir} is writable`,
      );
    }
  });

  test(`${overlay}: every public path reaches the gateway over TLS on the overlay's host; metrics and health are not public`, () => {
    const params = envFile(`overlays/${overlay}/params.env`);
    assert.equal(params.NAMESPACE, of(docs, 'Namespace')[0]!.metadata.name, "params.env NAMESPACE is the overlay's namespace");
    const ingresses = of(docs, 'Ingress');
    const routes = ingresses.flatMap((i) => i.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => ({ ingress: i, host: r.host, ...p }))));
    const route = (url: string) => routes.find((r) => (r.pathType === 'Exact' ? url === r.path : url === r.path || url.startsWith(`${r.path}/`)));
    for (const url of ['/webhook', '/webhook/line', '/files/messenger%3A1%3A2/token', '/facebook/data-deletion', '/webchat/widget.js', '/webchat/ws', '/admin', '/admin/api/live']) {
      const r = route(url);
      assert.ok(r, `${url} is routed`);
      assert.deepEqual([r.backend.service.name, r.backend.service.port.name, r.host], ['chatbot-gateway', 'http', params.HOST], url);
    }
    for (const url of ['/metrics', '/healthz', '/readyz', '/emulator', '/_dev/graph']) assert.equal(route(url), undefined, `${url} is not public`);
    // The files agents attach are fetched by the platforms from PUBLIC_URL: the host routed above.
    const gatewayEnv = named(docs, 'Deployment', 'chatbot-gateway').spec.template.spec.containers[0].env as EnvVar[];
    assert.equal(gatewayEnv.find((e) => e.name === 'PUBLIC_URL')?.value, `https://${params.HOST}`, 'PUBLIC_URL is the public host');
    for (const i of ingresses) {
      assert.equal(i.spec.ingressClassName, params.INGRESS_CLASS);
      assert.deepEqual(i.spec.tls, [{ hosts: [params.HOST], secretName: params.TLS_SECRET }], `${i.metadata.name}: TLS for its host`);
    }
    const timeout = (name: string) => Number(named(docs, 'Ingress', name).metadata.annotations!['nginx.ingress.kubernetes.io/proxy-read-timeout']);
    assert.ok(timeout('chatbot-webchat') >= 3600 && timeout('chatbot-admin') >= 3600, 'the WebSocket and the live feed stay open');
    assert.equal(route('/webchat/ws').ingress.metadata.name, 'chatbot-webchat');
    const bodyLimit = named(docs, 'Ingress', 'chatbot-public').metadata.annotations!['nginx.ingress.kubernetes.io/proxy-body-size']!;
    assert.ok(parseInt(bodyLimit, 10) * 2 ** 20 > 1024 * 1024, 'the proxy lets the app answer an oversized webhook itself (WEBHOOK_BODY_LIMIT 1mb)');
  });
}

test('every render is free of placeholders, and refers to Secrets only by name', () => {
  for (const [label, docs] of everyRender()) {
    const text = JSON.stringify(docs);
    for (const p of ['HOST', 'ADMIN_HOST', 'INGRESS_CLASS', 'TLS_SECRET', 'RUNBOOK_URL', 'NAMESPACE']) assert.doesNotMatch(text, new RegExp(`"${p}"|"${p}#|"${p}\\b`), `${label}: ${p} replaced`);
    assert.deepEqual(of(docs, 'Secret'), [], `${label}: no Secret values in the package`);
  }
});

test('admin on a host of its own (components/admin-host); the migration Job is an Argo CD pre-sync hook, except in dev', () => {
  const docs = renderWith('keda-admin', ['overlays/production'], ['components/keda-worker', 'components/admin-host']);
  const params = envFile('overlays/production/params.env');
  const hosts = Object.fromEntries(of(docs, 'Ingress').map((i) => [i.metadata.name, [i.spec.rules[0].host, i.spec.tls[0].hosts[0]]]));
  assert.deepEqual(hosts, { 'chatbot-admin': [params.ADMIN_HOST, params.ADMIN_HOST], 'chatbot-public': [params.HOST, params.HOST], 'chatbot-webchat': [params.HOST, params.HOST] });
  assert.equal(named(render('overlays/production'), 'Job', 'chatbot-migrate').metadata.annotations!['argocd.argoproj.io/hook'], 'PreSync');
  assert.equal(named(render('overlays/dev'), 'Job', 'chatbot-migrate').metadata.annotations!['argocd.argoproj.io/hook'], undefined, 'dev: the database is created in the same sync');
});

test('the alerts an on-call needs: on exported metrics, each with a severity and a runbook paragraph in docs/operations.md', async () => {
  const operations = fs.readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
  const anchors = new Set(
    [...operations.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  const { registry } = createMetrics();
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  // Gauges other work adds: the chatlog stream's size, the agent inbox's waiting time.
  const pending = new Set(['cb_chatlog_stream_entries', 'cb_chatlog_stream_bytes', 'cb_handoff_waiting_oldest_seconds']);
  for (const overlay of ['production', 'self-hosted']) {
    const rule = named(render(`overlays/${overlay}`), 'PrometheusRule', 'chatbot');
    const runbook = envFile(`overlays/${overlay}/params.env`).RUNBOOK_URL!;
    const rules = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }[];
    const used = new Set<string>();
    for (const r of rules) {
      assert.match(r.labels.severity!, /^(critical|warning)$/, r.alert);
      assert.ok(r.annotations.summary && r.annotations.description && r.for, r.alert);
      const [url, anchor] = r.annotations.runbook_url!.split('#');
      assert.equal(url, runbook);
      assert.equal(anchor, r.alert.toLowerCase(), `${r.alert}: its runbook anchor`);
      assert.ok(anchors.has(anchor!), `${r.alert}: docs/operations.md has a section "${r.alert}"`);
      assert.equal((r.expr.match(/\(/g) ?? []).length, (r.expr.match(/\)/g) ?? []).length, `${r.alert}: balanced parentheses`);
      for (const [, m] of r.expr.matchAll(/\b(cb_[a-z_]+)/g)) {
        const base = m!.replace(/_(bucket|sum|count)$/, '');
        assert.ok(exported.has(base) || pending.has(base), `${r.alert}: ${m} is exported by src/metrics.ts`);
        used.add(base);
      }
      assert.match(r.expr, /by \(namespace\b/, `${r.alert}: per installation`);
    }
    for (const m of [
      'cb_queue_oldest_ready_seconds',
      'cb_send_errors_total',
      'cb_sends_total',
      'cb_chatlog_lag_seconds',
      'cb_chatlog_stream_bytes',
      'cb_chatlog_stream_entries',
      'cb_redis_not_replicated_total',
      'cb_webhook_requests_total',
      'cb_handoff_waiting_oldest_seconds',
    ])
      assert.ok(used.has(m), `${overlay}: an alert on ${m}`);
    for (const m of pending) if (exported.has(m)) pending.delete(m); // once exported, checked as any other
    // Exported since the agent inbox: the runbook no longer says it is to come.
    if (exported.has('cb_handoff_waiting_oldest_seconds')) assert.match(operations, /### ChatbotHandoffWaiting[^#]*Every role exports it/, 'the runbook says where the handoff metric comes from');
    else assert.match(operations, /### ChatbotHandoffWaiting[^#]*The metric comes with the agent inbox work/, 'the runbook says where the handoff metric comes from');
  }
  assert.equal(of(render('overlays/dev'), 'PrometheusRule').length, 0, 'dev needs no monitoring CRDs');
});
