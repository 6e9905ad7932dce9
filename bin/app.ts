#!/usr/bin/env node
// The CDK app: `npx cdk synth` / `npx cdk deploy`. Context (cdk.json or -c): auditRetentionDays,
// logRetentionDays, and the mTLS seam mtlsDomainName, mtlsCertificateArn, mtlsTruststoreUri
// (all three, or none), mtlsTruststoreVersion.
import { App, Validations } from 'aws-cdk-lib';
import { compliancePacks } from '../lib/compliance-packs.js';
import { addTradingPlatform } from '../lib/platform-app.js';

const app = new App();
addTradingPlatform(app);
// cdk-nag runs at every synth: an unacknowledged finding fails it, so nothing unreviewed deploys.
Validations.of(app).addPlugins(...compliancePacks(app));
