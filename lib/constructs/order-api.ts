import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/**
 * The mTLS custom domain (the workload-identity seam): callers present a client certificate
 * issued by the truststore's CA, and the handlers read its subject CN.
 */
export interface OrderApiMtls {
  readonly domainName: string;
  /** ACM certificate for `domainName`, in the stack's region. */
  readonly certificateArn: string;
  /** `s3://bucket/key` of the PEM truststore. */
  readonly truststoreUri: string;
  readonly truststoreVersion?: string;
}

export interface OrderApiHandlers {
  readonly orderRouter: lambda.IFunction;
  readonly approval: lambda.IFunction;
  readonly compliance: lambda.IFunction;
  readonly positionTracker: lambda.IFunction;
  /** The risk officers' API (limits, kill switch, lists, locates, halts, prices). */
  readonly risk: lambda.IFunction;
}

export interface OrderApiProps {
  readonly handlers: OrderApiHandlers;
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly mtls?: OrderApiMtls;
  readonly stageName?: string;
}

/** One route of docs/contracts.md. */
export interface OrderApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly handler: keyof OrderApiHandlers;
}

/** The routes of docs/contracts.md, and the agent behind each. */
export const ORDER_API_ROUTES: readonly OrderApiRoute[] = [
  { method: 'POST', path: '/orders', handler: 'orderRouter' },
  { method: 'GET', path: '/orders/{order_id}', handler: 'orderRouter' },
  { method: 'GET', path: '/approvals', handler: 'approval' },
  { method: 'POST', path: '/approvals/{approval_id}/approve', handler: 'approval' },
  { method: 'POST', path: '/approvals/{approval_id}/reject', handler: 'approval' },
  { method: 'GET', path: '/audit', handler: 'compliance' },
  { method: 'GET', path: '/audit/proofs/{event_id}', handler: 'compliance' },
  { method: 'GET', path: '/audit/consistency', handler: 'compliance' },
  { method: 'GET', path: '/audit/checkpoint', handler: 'compliance' },
  { method: 'GET', path: '/reports/{report_type}', handler: 'compliance' },
  { method: 'GET', path: '/positions/{account_id}', handler: 'positionTracker' },
  { method: 'GET', path: '/risk/limits/{account_id}', handler: 'risk' },
  { method: 'POST', path: '/risk/limit-changes', handler: 'risk' },
  { method: 'GET', path: '/risk/limit-changes', handler: 'risk' },
  { method: 'POST', path: '/risk/limit-changes/{change_id}/approve', handler: 'risk' },
  { method: 'POST', path: '/risk/limit-changes/{change_id}/reject', handler: 'risk' },
  { method: 'GET', path: '/risk/trading-state/{scope}', handler: 'risk' },
  { method: 'PUT', path: '/risk/trading-state/{scope}', handler: 'risk' },
  { method: 'GET', path: '/risk/restrictions/{symbol}', handler: 'risk' },
  { method: 'POST', path: '/risk/restrictions', handler: 'risk' },
  { method: 'POST', path: '/risk/restrictions/{symbol}/{restriction_id}/lift', handler: 'risk' },
  { method: 'GET', path: '/risk/locates/{account_id}/{symbol}', handler: 'risk' },
  { method: 'POST', path: '/risk/locates', handler: 'risk' },
  { method: 'GET', path: '/risk/halts/{symbol}', handler: 'risk' },
  { method: 'PUT', path: '/risk/halts/{symbol}', handler: 'risk' },
  { method: 'DELETE', path: '/risk/halts/{symbol}', handler: 'risk' },
  { method: 'PUT', path: '/risk/prices/{symbol}', handler: 'risk' },
];

/** Parses `s3://bucket/key`; the truststore must name an object, not a bucket. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match?.[1] || !match[2]) throw new Error(`mtlsTruststoreUri must look like s3://bucket/key, got "${uri}"`);
  return { bucket: match[1], key: match[2] };
}

/**
 * The platform's REST API: Lambda proxy routes, SigV4 (AWS_IAM) on every method, request
 * validation, JSON access logs, X-Ray tracing. With `mtls`, a regional custom domain that demands
 * a client certificate becomes the only way in (the execute-api endpoint is disabled).
 */
export class OrderApi extends Construct {
  public readonly api: apigw.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly requestValidator: apigw.RequestValidator;
  public readonly domainName?: apigw.DomainName;

  constructor(scope: Construct, id: string, props: OrderApiProps) {
    super(scope, id);

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.api = new apigw.RestApi(this, 'Api', {
      description: 'ACME trading platform: orders, approvals, audit, reports and risk controls',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // With mTLS, a caller must come through the custom domain, so the certificate is checked.
      disableExecuteApiEndpoint: props.mtls !== undefined,
      // Execution logging needs the account-level API Gateway role; kept on stack deletion since
      // it is a per-region account setting other APIs may rely on.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: props.stageName ?? 'v1',
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Request and response bodies (orders, accounts) stay out of the execution logs.
        dataTraceEnabled: false,
        throttlingRateLimit: 100,
        throttlingBurstLimit: 200,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: apigw.AccessLogField.contextRequestId(),
            extendedRequestId: apigw.AccessLogField.contextExtendedRequestId(),
            requestTime: apigw.AccessLogField.contextRequestTime(),
            httpMethod: apigw.AccessLogField.contextHttpMethod(),
            resourcePath: apigw.AccessLogField.contextResourcePath(),
            path: apigw.AccessLogField.contextPath(),
            status: apigw.AccessLogField.contextStatus(),
            protocol: apigw.AccessLogField.contextProtocol(),
            responseLength: apigw.AccessLogField.contextResponseLength(),
            integrationLatency: apigw.AccessLogField.contextIntegrationLatency(),
            sourceIp: apigw.AccessLogField.contextIdentitySourceIp(),
            userAgent: apigw.AccessLogField.contextIdentityUserAgent(),
            caller: apigw.AccessLogField.contextIdentityCaller(),
            userArn: apigw.AccessLogField.contextIdentityUserArn(),
            clientCertSubjectDN: apigw.AccessLogField.contextIdentityClientCertSubjectDN(),
            clientCertSerialNumber: apigw.AccessLogField.contextIdentityClientCertSerialNumber(),
            errorMessage: apigw.AccessLogField.contextErrorMessage(),
            validationError: apigw.AccessLogField.contextErrorValidationErrorString(),
            xrayTraceId: apigw.AccessLogField.contextXrayTraceId(),
          }),
        ),
      },
    });

    this.requestValidator = this.api.addRequestValidator('RequestValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // Only the shape is checked here: the order router answers with field-level errors, which a
    // gateway schema error ("Invalid request body") would hide.
    const jsonObject = this.api.addModel('JsonObject', {
      contentType: 'application/json',
      schema: { schema: apigw.JsonSchemaVersion.DRAFT4, title: 'JsonObject', type: apigw.JsonSchemaType.OBJECT },
    });

    const integrations = new Map<keyof OrderApiHandlers, apigw.LambdaIntegration>();
    for (const route of ORDER_API_ROUTES) {
      let integration = integrations.get(route.handler);
      if (!integration) {
        // allowTestInvoke off: the console's test call would bypass IAM auth and the stage.
        integration = new apigw.LambdaIntegration(props.handlers[route.handler], { allowTestInvoke: false });
        integrations.set(route.handler, integration);
      }
      const resource = this.api.root.resourceForPath(route.path);
      const pathParameters = [...route.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      resource.addMethod(route.method, integration, {
        authorizationType: apigw.AuthorizationType.IAM,
        requestValidator: this.requestValidator,
        requestParameters: Object.fromEntries(pathParameters.map((name) => [`method.request.path.${name}`, true])),
        requestModels:
          route.method === 'POST' && route.path === '/orders' ? { 'application/json': jsonObject } : undefined,
      });
    }

    if (props.mtls) this.domainName = this.addMtlsDomain(props.mtls);
    this.acknowledgeFindings();
  }

  private addMtlsDomain(mtls: OrderApiMtls): apigw.DomainName {
    const truststore = parseS3Uri(mtls.truststoreUri);
    const domain = new apigw.DomainName(this, 'MtlsDomain', {
      domainName: mtls.domainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'MtlsCertificate', mtls.certificateArn),
      // Mutual TLS needs a regional endpoint and TLS 1.2.
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      mtls: {
        bucket: s3.Bucket.fromBucketName(this, 'Truststore', truststore.bucket),
        key: truststore.key,
        version: mtls.truststoreVersion,
      },
    });
    domain.addBasePathMapping(this.api, { stage: this.api.deploymentStage });
    return domain;
  }

  private acknowledgeFindings(): void {
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Callers are workloads and operators with IAM identities: every method uses AWS_IAM (SigV4), with mTLS client certificates on the custom domain; there are no Cognito users.',
    });
    const stage = Validations.of(this.api.deploymentStage);
    for (const pack of ['NIST.800.53.R5', 'PCI.DSS.321']) {
      stage.acknowledge({
        id: `${pack}-APIGWCacheEnabledAndEncrypted`,
        reason:
          "No response cache: order status, approvals and positions change between calls and differ per caller; a cache would serve stale or another caller's data.",
      });
      stage.acknowledge({
        id: `${pack}-APIGWSSLEnabled`,
        reason:
          'A stage client certificate authenticates API Gateway to HTTP back ends; every integration here is a Lambda proxy invoked through IAM, so there is no back end to present it to.',
      });
    }
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "The AWS-maintained policy for API Gateway's account-level logging role, which only the API Gateway service assumes to write execution logs.",
      });
    }
  }
}
