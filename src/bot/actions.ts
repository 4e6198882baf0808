/**
 * External actions: an intent bound to an HTTP call (ACTIONS_FILE). The URL, headers and
 * body are templates over the conversation's slots; the JSON answer renders into the
 * action's answer template as `{{result.…}}`. Failures never reach the user as errors:
 * a timeout or error renders the action's polite `error` text, a 404 its `notFound` text.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosError, type AxiosInstance } from 'axios';
import { missing, render, type Vars } from './template';
import { jsonSection } from '../config-reader';

export interface ActionSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Extra attempts after a timeout, a network error or a 5xx/429 (never after another 4xx). */
  retries: number;
  answer: string;
  notFound: string;
  error: string;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const DEFAULT_ERROR = "Sorry, I can't check that right now. Please try again in a few minutes.";
const DEFAULT_NOT_FOUND = "Sorry, I couldn't find that. Could you check and send it again?";

/** ACTIONS_FILE: {"actions": {"order.status": {"method": "GET", "url": "https://…/orders/{{orderNumber}}", "answer": "…"}}} */
export function parseActionsFile(text: string, where: string): { actions?: Map<string, ActionSpec>; problems: string[] } {
  const section = jsonSection(text, where, 'actions');
  if ('problem' in section) return { problems: [section.problem] };
  const list = section.value;
  if (!list || typeof list !== 'object' || Array.isArray(list)) return { problems: [`${where} must be an object with an "actions" object (intent → action)`] };
  const problems: string[] = [];
  const actions = new Map<string, ActionSpec>();
  for (const [intent, raw] of Object.entries(list as Record<string, Record<string, unknown>>)) {
    const at = `${where} actions["${intent}"]`;
    if (!raw || typeof raw !== 'object') {
      problems.push(`${at} must be an object`);
      continue;
    }
    const method = String(raw.method ?? 'GET').toUpperCase();
    if (!METHODS.includes(method)) problems.push(`${at}.method must be one of ${METHODS.join(', ')}`);
    if (typeof raw.url !== 'string' || !/^https?:\/\/\S+$/.test(raw.url)) problems.push(`${at}.url must be an http(s) URL template`);
    if (typeof raw.answer !== 'string' || !raw.answer.trim()) problems.push(`${at}.answer must be the answer template`);
    const num = (k: string, def: number, min: number, max: number) => {
      const v = raw[k] ?? def;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        problems.push(`${at}.${k} must be an integer from ${min} to ${max}`);
        return def;
      }
      return v;
    };
    const timeoutMs = num('timeoutMs', 3_000, 10, 15_000); // well inside the time a user waits
    const retries = num('retries', 1, 0, 5);
    if (raw.headers !== undefined && (typeof raw.headers !== 'object' || Object.values(raw.headers as object).some((h) => typeof h !== 'string'))) problems.push(`${at}.headers must be an object of strings`);
    for (const k of ['notFound', 'error'] as const) if (raw[k] !== undefined && (typeof raw[k] !== 'string' || !(raw[k] as string).trim())) problems.push(`${at}.${k} must be a non-empty string`);
    actions.set(intent, {
      method: method as ActionSpec['method'],
      url: String(raw.url),
      ...(raw.headers ? { headers: raw.headers as Record<string, string> } : {}),
      ...(raw.body !== undefined ? { body: raw.body } : {}),
      timeoutMs,
      retries,
      answer: String(raw.answer),
      notFound: typeof raw.notFound === 'string' ? raw.notFound : DEFAULT_NOT_FOUND,
      error: typeof raw.error === 'string' ? raw.error : DEFAULT_ERROR,
    });
  }
  return problems.length ? { problems } : { actions, problems };
}

export type ActionResult = { kind: 'ok'; text: string; data: unknown; ms: number; attempts: number } | { kind: 'not_found' | 'error' | 'timeout'; text: string; ms: number; attempts: number; detail: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function renderDeep(v: unknown, vars: Vars): unknown {
  if (typeof v === 'string') return render(v, vars);
  if (Array.isArray(v)) return v.map((x) => renderDeep(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renderDeep(x, vars)]));
  return v;
}

export class ActionRunner {
  private readonly http: AxiosInstance;
  constructor() {
    this.http = axios.create({
      maxRedirects: 3,
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 64 }),
      validateStatus: () => true,
    });
  }

  async run(spec: ActionSpec, vars: Vars): Promise<ActionResult> {
    const started = Date.now();
    const gaps = missing(spec.url, vars);
    if (gaps.length) return { kind: 'error', text: render(spec.error, vars), ms: 0, attempts: 0, detail: `missing ${gaps.join(', ')} for the URL` };
    const url = render(spec.url, vars, { encode: true });
    let last: Extract<ActionResult, { kind: 'error' | 'timeout' | 'not_found' }> | undefined;
    for (let attempt = 1; attempt <= spec.retries + 1; attempt++) {
      const fail = (kind: 'error' | 'timeout' | 'not_found', detail: string) => ({ kind, text: render(kind === 'not_found' ? spec.notFound : spec.error, vars), ms: Date.now() - started, attempts: attempt, detail });
      try {
        const res = await this.http.request({
          method: spec.method,
          url,
          timeout: spec.timeoutMs,
          headers: { accept: 'application/json', ...(spec.headers ? (renderDeep(spec.headers, vars) as Record<string, string>) : {}) },
          ...(spec.body !== undefined ? { data: renderDeep(spec.body, vars) } : {}),
        });
        if (res.status >= 200 && res.status < 300) {
          const data = res.data;
          return { kind: 'ok', text: render(spec.answer, { ...vars, result: data }), data, ms: Date.now() - started, attempts: attempt };
        }
        if (res.status === 404) return fail('not_found', 'HTTP 404');
        last = fail('error', `HTTP ${res.status}`);
        if (res.status < 500 && res.status !== 429) return last;
      } catch (err) {
        const e = err as AxiosError;
        const timeout = e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT';
        last = fail(timeout ? 'timeout' : 'error', timeout ? `timed out after ${spec.timeoutMs} ms` : `${e.code ?? 'error'}: ${e.message}`);
      }
      if (attempt <= spec.retries) await sleep(Math.min(500, 50 * 2 ** attempt));
    }
    return last!;
  }
}
