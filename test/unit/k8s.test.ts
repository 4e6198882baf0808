/** The Kubernetes manifests agree with the code: env names and values, probes, ports, drain time, security. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..');
type Doc = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };
const files = [...fs.readdirSync(path.join(ROOT, 'k8s')).map((f) => f), ...fs.readdirSync(path.join(ROOT, 'k8s', 'optional')).map((f) => `optional/${f}`)];
const docs: Doc[] = files
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(fs.readFileSync(path.join(ROOT, 'k8s', f), 'utf8')).map((d) => {
      assert.deepEqual(d.errors, [], `${f} parses`);
      return d.toJS() as Doc;
    }),
  );
const of = (kind: string) => docs.filter((d) => d.kind === kind);
const configMap = of('ConfigMap')[0]!.data!;
const secret = of('Secret')[0]!.stringData!;
const deployments = of('Deployment');

/** Every variable the config module reads, from its source. */
const known = new Set([...fs.readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8').matchAll(/(?:r\.(?:str|int|float|oneOf|bytes)|secret)\('([A-Z_]+)'/g)].map((m) => m[1]!));

test('every manifest is a known kind, and the three roles are deployed', () => {
  assert.deepEqual([...new Set(docs.map((d) => d.kind))].sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'PodMonitor', 'ScaledObject', 'Secret', 'Service']);
  assert.deepEqual(deployments.map((d) => d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'ROLE').value).sort(), ['chatlog', 'gateway', 'worker']);
});

test('every environment variable the manifests set is one the config module reads, and the values pass its validation', () => {
  const names = [...Object.keys(configMap), ...Object.keys(secret), ...deployments.flatMap((d) => d.spec.template.spec.containers.flatMap((c: { env?: { name: string }[] }) => (c.env ?? []).map((e) => e.name)))];
  assert.ok(known.size > 20, `found the config's variables (${known.size})`);
  for (const n of names) assert.ok(known.has(n), `${n} is read by src/config.ts`);
  for (const d of deployments) {
    const env = { ...configMap, ...secret, ...Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value])) };
    const c = loadConfig(env);
    assert.equal(c.production, true);
    assert.equal(c.role, env.ROLE);
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
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory, 'requests and limits');
    const pdb = of('PodDisruptionBudget').find((p) => JSON.stringify(p.spec.selector.matchLabels) === JSON.stringify(d.spec.selector.matchLabels));
    assert.ok(pdb, `${d.metadata.name} has a PodDisruptionBudget`);
  }
  const hpaTargets = of('HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name).sort();
  assert.deepEqual(hpaTargets, ['chatbot-gateway', 'chatbot-worker']);
  const ingress = of('Ingress')[0]!;
  assert.equal(ingress.spec.rules[0].http.paths[0].path, '/webhook');
});

test('monitoring and autoscaling point at what the app exposes', () => {
  const metricsSource = fs.readFileSync(path.join(ROOT, 'src', 'metrics.ts'), 'utf8');
  const keda = of('ScaledObject')[0]!;
  assert.equal(keda.spec.scaleTargetRef.name, 'chatbot-worker');
  for (const t of keda.spec.triggers) {
    const metric = /(cb_[a-z_]+)/.exec(t.metadata.query)?.[1];
    assert.ok(metric && metricsSource.includes(`'${metric}'`), `KEDA query uses a metric the app exports (${metric})`);
  }
  const monitor = of('PodMonitor')[0]!;
  assert.deepEqual([monitor.spec.podMetricsEndpoints[0].port, monitor.spec.podMetricsEndpoints[0].path], ['http', '/metrics']);
  // The gateway's port is open to webhooks; every other inbound path is denied by default.
  const policies = of('NetworkPolicy');
  assert.ok(policies.some((p) => p.spec.podSelector && Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress), 'default deny');
  const gw = policies.find((p) => p.spec.podSelector.matchLabels?.role === 'gateway')!;
  assert.equal(gw.spec.ingress[0].ports[0].port, Number(configMap.PORT));
});
