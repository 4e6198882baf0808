/**
 * The Kubernetes package as a cluster would get it: every overlay of k8s/ rendered by
 * `kubectl kustomize` (kustomize v5 is built into kubectl ≥ 1.27), plus the optional
 * components put together the way the overlays' comments say.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(__dirname, '..', '..');
export const K8S = path.join(ROOT, 'k8s');

export type Labels = Record<string, string>;
export type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };

let checked = false;
/** kubectl with kustomize v5, or a failure that says how to get it. */
function kubectl(args: string[], cwd = ROOT): string {
  if (!checked) {
    let version = '';
    try {
      version = execFileSync('kubectl', ['version', '--client', '--output=json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      assert.fail(
        `kubectl is needed to render k8s/ (kubectl kustomize): ${(err as Error).message.split('\n')[0]}. Install kubectl ≥ 1.27 from the Kubernetes release or your distribution's cloud SDK; Debian's kubernetes-client package (1.20) is too old for components and replacements.`,
      );
    }
    const kustomize = /v(\d+)\./.exec(JSON.parse(version).kustomizeVersion ?? '')?.[1];
    assert.ok(Number(kustomize) >= 5, `kubectl's kustomize is ${JSON.parse(version).kustomizeVersion}; k8s/ needs v5 (kubectl ≥ 1.27)`);
    checked = true;
  }
  return execFileSync('kubectl', args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function docsOf(yaml: string, where: string): Doc[] {
  return parseAllDocuments(yaml).map((d) => {
    assert.deepEqual(d.errors, [], `${where} renders valid YAML`);
    return d.toJS() as Doc;
  });
}

const cache = new Map<string, Doc[]>();
/** `kubectl kustomize k8s/<dir>`. */
export function render(dir: string): Doc[] {
  if (!cache.has(dir)) cache.set(dir, docsOf(kubectl(['kustomize', path.join(K8S, dir)]), dir));
  return structuredClone(cache.get(dir)!);
}

/**
 * An overlay of our own in a temp dir: `resources` and `components` (k8s/-relative). Over the
 * base it brings a namespace, an image and params.env (the production overlay's); over an
 * overlay, that overlay's.
 */
export function renderWith(label: string, resources: string[], components: string[]): Doc[] {
  if (cache.has(label)) return structuredClone(cache.get(label)!);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-kustomize-'));
  const rel = (p: string) => path.relative(dir, path.join(K8S, p));
  const overBase = resources.includes('base');
  const kustomization = {
    resources: resources.map(rel),
    components: components.map(rel),
    namespace: 'chatbot', // the production overlay's, NAMESPACE of its params.env
    ...(overBase
      ? {
          images: [{ name: 'ordered-chatbot', newName: 'registry.example.com/ordered-chatbot', newTag: 'test' }],
          configMapGenerator: [{ name: 'chatbot-params', envs: ['params.env'], options: { annotations: { 'config.kubernetes.io/local-config': 'true' } } }],
        }
      : {}),
  };
  if (overBase) fs.copyFileSync(path.join(K8S, 'overlays', 'production', 'params.env'), path.join(dir, 'params.env'));
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), JSON.stringify(kustomization));
  try {
    cache.set(label, docsOf(kubectl(['kustomize', dir]), label));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return structuredClone(cache.get(label)!);
}

/** KEY=value lines of an env file (kustomize's `envs:`), comments and blank lines skipped. */
export function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readFileSync(path.join(K8S, file), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** The example Secrets (k8s/examples/secret.example.yaml), by name. */
export function exampleSecrets(): Map<string, Record<string, string>> {
  const docs = parseAllDocuments(fs.readFileSync(path.join(K8S, 'examples', 'secret.example.yaml'), 'utf8')).map((d) => d.toJS() as Doc);
  return new Map(docs.map((d) => [d.metadata.name, d.stringData!]));
}

export const of = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
export function named(docs: Doc[], kind: string, name: string): Doc {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(d, `${kind} ${name} exists`);
  return d;
}

/** Does a label selector select these labels (matchLabels and the In / NotIn / Exists operators)? */
export function selects(s: { matchLabels?: Labels; matchExpressions?: { key: string; operator: string; values?: string[] }[] }, labels: Labels): boolean {
  const byLabels = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (s.matchExpressions ?? []).every((e) =>
    e.operator === 'In' ? e.values!.includes(labels[e.key]!) : e.operator === 'NotIn' ? !e.values!.includes(labels[e.key]!) : e.operator === 'Exists' ? e.key in labels : !(e.key in labels),
  );
  return byLabels && byExpr;
}

/** The pod templates of Deployments, StatefulSets and Jobs. */
export const podsOf = (docs: Doc[]) =>
  docs.filter((d) => ['Deployment', 'StatefulSet', 'Job'].includes(d.kind)).map((d) => ({ doc: d, name: `${d.kind} ${d.metadata.name}`, labels: (d.spec.template.metadata?.labels ?? {}) as Labels, pod: d.spec.template.spec }));

export const OVERLAYS = ['dev', 'production', 'self-hosted'] as const;
/** Every overlay, and the optional components in the combinations their comments offer. */
export function everyRender(): [string, Doc[]][] {
  return [
    ...OVERLAYS.map((o): [string, Doc[]] => [o, render(`overlays/${o}`)]),
    ['production + keda-worker + admin-host', renderWith('keda-admin', ['overlays/production'], ['components/keda-worker', 'components/admin-host'])],
    ['base + service-monitor', renderWith('service-monitor', ['base'], ['components/params', 'components/service-monitor', 'components/alerts'])],
    ['grafana', render('grafana')],
  ];
}

export const parseYaml = parse;
