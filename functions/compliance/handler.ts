// Lambda entry for the compliance agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { complianceDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createComplianceHandler } from './app.js';

const logger = new Logger({ serviceName: 'compliance' });
const tracer = new Tracer({ serviceName: 'compliance' });
const { services, identity, access, settle } = awsAgentContext('compliance', tracer, logger);

export const handler = lambdaEntry(createComplianceHandler(complianceDeps(services, identity), logger, access), {
  logger,
  tracer,
  settle,
});
