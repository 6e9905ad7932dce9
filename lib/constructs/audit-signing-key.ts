import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface AuditSigningKeyProps {
  /** @default `alias/<stack name>-audit-checkpoints` */
  readonly aliasName?: string;
}

/**
 * The key that signs the audit log's checkpoints: asymmetric ECC_NIST_P256 for SIGN_VERIFY, used
 * with ECDSA_SHA_256 (functions/adapters/kms-checkpoint-signer.ts). Its private half never leaves
 * KMS; its public half (GetPublicKey) is what auditors verify checkpoints with.
 *
 * No rotation: KMS cannot rotate asymmetric keys, and a new key would not verify the checkpoints
 * the old one signed. cdk-nag's rotation rules (AwsSolutions-KMS5, NIST/PCI
 * KMSBackingKeyRotationEnabled) apply to symmetric keys only, so there is nothing to acknowledge.
 * Retained on stack deletion: the archived checkpoints stay verifiable through KMS for as long as
 * the key exists, and its public key is published with them.
 */
export class AuditSigningKey extends Construct {
  public readonly key: kms.Key;
  public readonly aliasName: string;

  constructor(scope: Construct, id: string, props: AuditSigningKeyProps = {}) {
    super(scope, id);
    this.aliasName = props.aliasName ?? `alias/${Stack.of(this).stackName}-audit-checkpoints`;
    this.key = new kms.Key(this, 'Key', {
      description: 'ACME trading platform: signs audit-log checkpoints (ECDSA P-256, SHA-256)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      enableKeyRotation: false,
      alias: this.aliasName,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** What a checkpoint writer needs: sign, and read the public key (its id goes in the checkpoint). */
  public grantSign(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, 'kms:Sign', 'kms:GetPublicKey');
  }

  /** What a verifier needs: the public key (to verify offline), or KMS Verify. */
  public grantVerify(grantee: iam.IGrantable): iam.Grant {
    return this.key.grant(grantee, 'kms:GetPublicKey', 'kms:Verify');
  }
}
