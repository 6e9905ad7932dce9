import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface DataBackupProps {
  readonly tables: readonly dynamodb.ITable[];
  readonly encryptionKey: kms.IKey;
  /** How long the monthly backups are kept: the books-and-records retention. */
  readonly retentionDays: number;
}

/**
 * AWS Backup for the tables. Point-in-time recovery covers 35 days; orders and positions are
 * books and records, so monthly recovery points are kept for the records retention as well.
 */
export class DataBackup extends Construct {
  public readonly vault: backup.BackupVault;
  public readonly plan: backup.BackupPlan;
  public readonly selection: backup.BackupSelection;

  constructor(scope: Construct, id: string, props: DataBackupProps) {
    super(scope, id);
    this.vault = new backup.BackupVault(this, 'Vault', {
      encryptionKey: props.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupVault: this.vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: 'Daily',
          scheduleExpression: events.Schedule.cron({ hour: '3', minute: '0' }),
          deleteAfter: Duration.days(35),
        }),
        // No cold-storage transition: DynamoDB supports it only with the account's advanced
        // backup features turned on, which this stack does not assume.
        new backup.BackupPlanRule({
          ruleName: 'Monthly',
          scheduleExpression: events.Schedule.cron({ day: '1', hour: '4', minute: '0' }),
          deleteAfter: Duration.days(props.retentionDays),
        }),
      ],
    });
    this.selection = this.plan.addSelection('Tables', {
      resources: props.tables.map((table) => backup.BackupResource.fromDynamoDbTable(table)),
      allowRestores: true,
    });

    Validations.of(this.selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
      reason:
        'AWS-maintained policy for the AWS Backup service role; the service assumes this role only for this plan, whose selection is the platform tables.',
    });
    Validations.of(this.selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores]',
      reason:
        'The AWS Backup restore role policy, maintained by AWS for the service it names; restores are an operator action.',
    });
  }
}
