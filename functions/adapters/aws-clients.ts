// The SDK clients, created once per Lambda module (cold start) and shared by every adapter, so
// connections are reused across invocations. Region and credentials come from the Lambda
// environment through the SDK's default provider chain.

import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  sfn: SFNClient;
  kms: KMSClient;
}

export interface AwsClientOptions {
  /** Wraps each client so every call becomes an X-Ray subsegment. */
  tracer?: Tracer;
  /** DynamoDB endpoint override (dynalite or DynamoDB Local); S3, SFN and KMS are untouched. */
  endpoint?: string;
  /** Overrides AWS_REGION; with an endpoint and no region, us-east-1 (a local DynamoDB ignores it). */
  region?: string;
}

/** Credentials a local DynamoDB accepts; it checks the signature's shape, not the key. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  // Without an explicit region the SDK reads AWS_REGION itself (always set on Lambda).
  const { region } = options;
  const base = region ? { region } : {};
  const dynamodb = new DynamoDBClient(
    options.endpoint
      ? { region: region ?? 'us-east-1', endpoint: options.endpoint, credentials: LOCAL_CREDENTIALS }
      : base,
  );
  const s3 = new S3Client(base);
  const sfn = new SFNClient(base);
  const kms = new KMSClient(base);
  const { tracer } = options;
  if (!tracer) return { dynamodb, s3, sfn, kms };
  return {
    dynamodb: tracer.captureAWSv3Client(dynamodb),
    s3: tracer.captureAWSv3Client(s3),
    sfn: tracer.captureAWSv3Client(sfn),
    kms: tracer.captureAWSv3Client(kms),
  };
}
