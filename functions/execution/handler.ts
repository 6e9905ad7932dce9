// Lambda entry for the execution agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { executionDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createExecutionHandler } from './app.js';

const logger = new Logger({ serviceName: 'execution' });
const tracer = new Tracer({ serviceName: 'execution' });
const { services, identity, access, settle } = awsAgentContext('execution', tracer, logger);

export const handler = lambdaEntry(createExecutionHandler(executionDeps(services, identity), logger, access), {
  logger,
  tracer,
  settle,
});
