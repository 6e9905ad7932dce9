import type { IPolicyValidationPlugin } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks, PCIDSS321Checks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The cdk-nag packs the platform must pass: AWS Solutions, NIST 800-53 rev 5, PCI DSS 3.2.1. */
export function compliancePacks(scope: IConstruct): IPolicyValidationPlugin[] {
  return [new AwsSolutionsChecks(scope), new NIST80053R5Checks(scope), new PCIDSS321Checks(scope)];
}
