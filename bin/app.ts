#!/usr/bin/env node
// The CDK app: `npx cdk synth` / `npx cdk deploy`. Context (cdk.json or -c): mtlsTruststoreFile
// (required: the PEM bundle of the CA(s) that issue client certificates), auditRetentionDays,
// logRetentionDays. Deploy parameters: ApiDomainName and ApiCertificateArn (the mTLS custom
// domain, the API's only way in), e.g.
//   cdk deploy -c mtlsTruststoreFile=pki/client-ca.pem --parameters ApiDomainName=orders.acme.example \
//     --parameters ApiCertificateArn=arn:aws:acm:...
import { App, Validations } from 'aws-cdk-lib';
import { compliancePacks } from '../lib/compliance-packs.js';
import { addTradingPlatform } from '../lib/platform-app.js';

const app = new App();
addTradingPlatform(app);
// cdk-nag runs at every synth: an unacknowledged finding fails it, so nothing unreviewed deploys.
Validations.of(app).addPlugins(...compliancePacks(app));
