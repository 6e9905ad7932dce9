import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { agentHandler, lambdaEntry } from '../../functions/agent-runtime.js';
import { ValidationError } from '../../functions/core/errors.js';
import { UnknownActionError } from '../../functions/http.js';
import { certEvent, lifecycleTask, testAccess } from '../support/access.js';
import { InMemoryAuditTrail, ManualClock } from '../support/in-memory.js';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const AUDITOR = { cn: 'AUDITOR-1', ou: 'auditor' };

let audit: InMemoryAuditTrail;
beforeEach(() => {
  audit = new InMemoryAuditTrail(new ManualClock());
});

const ok = (body: unknown): APIGatewayProxyResult => ({ statusCode: 200, body: JSON.stringify(body) });

describe('agentHandler', () => {
  it('routes API events to the API and maps domain errors to JSON answers', async () => {
    const h = agentHandler(
      silent,
      testAccess('compliance', audit),
      {
        routes: { 'GET /audit': { action: 'query_audit_log' } },
        handle: async () => {
          throw new ValidationError([{ field: 'x', rule: 'required', message: 'x is required' }]);
        },
      },
      {},
    );
    const res = (await h(certEvent('GET', '/audit', AUDITOR))) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ errors: [{ field: 'x', rule: 'required' }] });
  });

  it('routes tasks by action, and throws (for the state machine) on an unknown action or a task error', async () => {
    const h = agentHandler(silent, testAccess('risk', audit), undefined, {
      check_risk: {
        action: 'check_risk',
        run: async ({ payload, caller }) => ({ n: payload.n, by: caller.principal.id }),
      },
    });
    await expect(h(lifecycleTask('CheckRisk', { action: 'check_risk', n: 1 }))).resolves.toEqual({
      n: 1,
      by: 'order-router',
    });
    await expect(h({ action: 'nope' })).rejects.toBeInstanceOf(UnknownActionError);
    const failing = agentHandler(silent, testAccess('risk', audit), undefined, {
      check_risk: {
        action: 'check_risk',
        run: async () => {
          throw new Error('x');
        },
      },
    });
    await expect(failing(lifecycleTask('CheckRisk', { action: 'check_risk' }))).rejects.toThrow('x');
  });

  it('answers 404 JSON for an agent without an API (once the caller is identified)', async () => {
    const h = agentHandler(silent, testAccess('execution', audit), undefined, {});
    const res = (await h(certEvent('GET', '/x', AUDITOR))) as { statusCode: number };
    expect(res.statusCode).toBe(404);
  });

  it('refuses a deferred route that answers without authorising (fail closed)', async () => {
    const h = agentHandler(
      silent,
      testAccess('order-router', audit),
      { routes: { 'GET /orders/{order_id}': { action: 'read_order', deferred: true } }, handle: async () => ok({}) },
      {},
    );
    const res = (await h(certEvent('GET', '/orders/{order_id}', AUDITOR))) as { statusCode: number };
    expect(res.statusCode).toBe(500);
  });
});

describe('lambdaEntry', () => {
  it('adds the invocation context to the logger before handling', async () => {
    const seen: Context[] = [];
    const entry = lambdaEntry(async (e) => e, { logger: { addContext: (c) => seen.push(c) } });
    const context = { awsRequestId: 'req-1' } as Context;
    await expect(entry({ a: 1 }, context)).resolves.toEqual({ a: 1 });
    expect(seen).toEqual([context]);
  });

  it('answers only once background work (a checkpoint being signed) has settled, even on failure', async () => {
    const order: string[] = [];
    const settle = async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push('settled');
      throw new Error('KMS down: counted elsewhere, not the invocation’s failure');
    };
    const answering = lambdaEntry(async (e) => e, { logger: { addContext: () => undefined }, settle });
    const answer = await answering({ a: 1 }, {} as Context);
    order.push('answered');
    expect(answer).toEqual({ a: 1 });
    const failing = lambdaEntry(
      async () => {
        throw new Error('boom');
      },
      { logger: { addContext: () => undefined }, settle },
    );
    const failure = await failing({}, {} as Context).catch((e: Error) => e.message);
    order.push('failed');
    expect(failure).toBe('boom');
    expect(order).toEqual(['settled', 'answered', 'settled', 'failed']);
  });
});

describe('lambdaEntry tracing', () => {
  it('runs each invocation in a subsegment annotated with its action and order, and restores the parent', async () => {
    const calls: string[] = [];
    const sub = { close: () => calls.push('close') };
    const parent = {
      addNewSubsegment: (name: string) => {
        calls.push(`open ${name}`);
        return sub;
      },
    };
    let current: unknown = parent;
    const tracer = {
      getSegment: () => parent,
      setSegment: (s: unknown) => {
        current = s;
      },
      annotateColdStart: () => calls.push('cold'),
      addServiceNameAnnotation: () => calls.push('service'),
      putAnnotation: (k: string, v: string) => calls.push(`${k}=${v}`),
      addErrorAsMetadata: (e: Error) => calls.push(`error ${e.message}`),
    };
    const entry = lambdaEntry(
      async () => {
        expect(current).toBe(sub);
        throw new Error('boom');
      },
      { logger: { addContext: () => undefined }, tracer },
    );
    await expect(
      entry({ action: 'check_risk', order: { order_id: 'ORD-7' } }, { functionName: 'risk' } as Context),
    ).rejects.toThrow('boom');
    expect(calls).toEqual([
      'open ## risk',
      'cold',
      'service',
      'action=check_risk',
      'order_id=ORD-7',
      'error boom',
      'close',
    ]);
    expect(current).toBe(parent);
  });
});
