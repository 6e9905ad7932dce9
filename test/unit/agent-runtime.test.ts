import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { agentHandler, lambdaEntry } from '../../functions/agent-runtime.js';
import { ValidationError } from '../../functions/core/errors.js';
import { UnknownActionError } from '../../functions/http.js';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const apiEvent = (method: string, resource: string) =>
  ({
    httpMethod: method,
    resource,
    requestContext: { requestId: 'r-1', identity: {} },
  }) as unknown as APIGatewayProxyEvent;

describe('agentHandler', () => {
  it('routes API events to the API and maps domain errors to JSON answers', async () => {
    const h = agentHandler(
      silent,
      async () => {
        throw new ValidationError([{ field: 'x', rule: 'required', message: 'x is required' }]);
      },
      {},
    );
    const res = (await h(apiEvent('GET', '/x'))) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ errors: [{ field: 'x', rule: 'required' }] });
  });

  it('routes tasks by action, and throws (for the state machine) on an unknown action or a task error', async () => {
    const h = agentHandler(silent, undefined, { ping: async (p) => ({ pong: p.n }) });
    await expect(h({ action: 'ping', n: 1 })).resolves.toEqual({ pong: 1 });
    await expect(h({ action: 'nope' })).rejects.toBeInstanceOf(UnknownActionError);
    const failing = agentHandler(silent, undefined, {
      boom: async () => {
        throw new Error('x');
      },
    });
    await expect(failing({ action: 'boom' })).rejects.toThrow('x');
  });

  it('answers 404 JSON for an agent without an API', async () => {
    const h = agentHandler(silent, undefined, {});
    const res = (await h(apiEvent('GET', '/x'))) as { statusCode: number };
    expect(res.statusCode).toBe(404);
  });
});

describe('lambdaEntry', () => {
  it('adds the invocation context to the logger before handling', async () => {
    const seen: Context[] = [];
    const entry = lambdaEntry(async (e) => e, { addContext: (c) => seen.push(c) });
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
    const ok = lambdaEntry(async (e) => e, { addContext: () => undefined }, settle);
    const answer = await ok({ a: 1 }, {} as Context);
    order.push('answered');
    expect(answer).toEqual({ a: 1 });
    const failing = lambdaEntry(
      async () => {
        throw new Error('boom');
      },
      { addContext: () => undefined },
      settle,
    );
    const failure = await failing({}, {} as Context).catch((e: Error) => e.message);
    order.push('failed');
    expect(failure).toBe('boom');
    expect(order).toEqual(['settled', 'answered', 'settled', 'failed']);
  });
});
