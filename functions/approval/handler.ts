// Lambda entry for the approval agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { approvalDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createApprovalHandler } from './app.js';

const logger = new Logger({ serviceName: 'approval' });
const tracer = new Tracer({ serviceName: 'approval' });
const { services, identity, access, settle } = awsAgentContext('approval', tracer, logger);

export const handler = lambdaEntry(createApprovalHandler(approvalDeps(services, identity), logger, access), {
  logger,
  tracer,
  settle,
});
