// Lambda entry for the order-router agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { routerDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createOrderRouterHandler } from './app.js';

const logger = new Logger({ serviceName: 'order-router' });
const tracer = new Tracer({ serviceName: 'order-router' });
const { services, identity, access, settle } = awsAgentContext('order-router', tracer, logger);

export const handler = lambdaEntry(createOrderRouterHandler(routerDeps(services, identity), logger, access), {
  logger,
  tracer,
  settle,
});
