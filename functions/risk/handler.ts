// Lambda entry for the risk agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { riskAdminDeps, riskDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createRiskHandler } from './app.js';

const logger = new Logger({ serviceName: 'risk' });
const tracer = new Tracer({ serviceName: 'risk' });
const { services, identity, access, settle } = awsAgentContext('risk', tracer, logger);

export const handler = lambdaEntry(
  createRiskHandler({ check: riskDeps(services, identity), admin: riskAdminDeps(services, identity) }, logger, access),
  { logger, tracer, settle },
);
