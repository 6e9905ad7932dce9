// Lambda entry for the position-tracker agent: configuration, clients, logger and tracer once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { lambdaEntry } from '../agent-runtime.js';
import { positionDeps } from '../deps.js';
import { awsAgentContext } from '../wiring.js';
import { createPositionTrackerHandler } from './app.js';

const logger = new Logger({ serviceName: 'position-tracker' });
const tracer = new Tracer({ serviceName: 'position-tracker' });
const { services, identity, access, settle } = awsAgentContext('position-tracker', tracer, logger);

export const handler = lambdaEntry(createPositionTrackerHandler(positionDeps(services, identity), logger, access), {
  logger,
  tracer,
  settle,
});
