import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * The customer-managed key for the platform's data at rest: tables, the audit archive and the log
 * groups. One key keeps the key policy in one place; a CMK (not AWS-managed) lets the key policy,
 * rotation and CloudTrail key-usage records be ours, as NIST 800-53 and PCI DSS ask.
 */
export class PlatformKey extends Construct {
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      description: 'ACME trading platform: tables, audit archive and logs at rest',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      // Deleting the key would make the retained tables and the locked archive unreadable.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // CloudWatch Logs encrypts the log groups with this key; the condition confines it to log
    // groups of this account and region.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsForThisAccountLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }
}
