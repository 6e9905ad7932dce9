import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { MtlsTruststore } from './mtls-truststore.js';

/**
 * The mTLS custom domain, the only way in: callers present a client certificate issued by a CA of
 * the truststore, and the handlers read its subject (requestContext.identity.clientCert.subjectDN).
 */
export interface OrderApiDomain {
  /** May be a CloudFormation parameter's value. */
  readonly domainName: string;
  /** ACM certificate for `domainName`, in the stack's region; may be a parameter's value. */
  readonly certificateArn: string;
  readonly truststore: MtlsTruststore;
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
  readonly domain: OrderApiDomain;
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

/**
 * The platform's REST API: Lambda proxy routes, request validation, JSON access logs, X-Ray
 * tracing, reached only through a regional custom domain that demands a client certificate (the
 * execute-api endpoint is disabled). Authentication is that certificate; authorisation is Cedar
 * policy in each handler, so the methods carry no API Gateway authorizer.
 */
export class OrderApi extends Construct {
  public readonly api: apigw.RestApi;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly requestValidator: apigw.RequestValidator;
  public readonly domainName: apigw.DomainName;
  public readonly methods: apigw.Method[] = [];

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
      // Every caller comes through the custom domain, so every caller's certificate is checked.
      disableExecuteApiEndpoint: true,
      // Execution logging needs the account-level API Gateway role; kept on stack deletion since
      // it is a per-region account setting other APIs may rely on.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.NONE },
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

    // RestApi outputs its execute-api URL, which is disabled here: the stack outputs the domain.
    this.api.node.tryRemoveChild('Endpoint');

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
        // allowTestInvoke off: the console's test call would bypass the domain's mTLS and the stage.
        integration = new apigw.LambdaIntegration(props.handlers[route.handler], { allowTestInvoke: false });
        integrations.set(route.handler, integration);
      }
      const resource = this.api.root.resourceForPath(route.path);
      const pathParameters = [...route.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      const method = resource.addMethod(route.method, integration, {
        authorizationType: apigw.AuthorizationType.NONE,
        requestValidator: this.requestValidator,
        requestParameters: Object.fromEntries(pathParameters.map((name) => [`method.request.path.${name}`, true])),
        requestModels:
          route.method === 'POST' && route.path === '/orders' ? { 'application/json': jsonObject } : undefined,
      });
      this.methods.push(method);
    }

    this.domainName = this.addMtlsDomain(props.domain);
    this.acknowledgeFindings();
  }

  private addMtlsDomain(domain: OrderApiDomain): apigw.DomainName {
    const name = new apigw.DomainName(this, 'MtlsDomain', {
      domainName: domain.domainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'MtlsCertificate', domain.certificateArn),
      // Mutual TLS needs a regional endpoint and TLS 1.2.
      endpointType: apigw.EndpointType.REGIONAL,
      securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      mtls: { bucket: domain.truststore.bucket, key: domain.truststore.key },
    });
    // API Gateway reads the truststore when the domain is created or updated: it must be uploaded.
    name.node.addDependency(domain.truststore.deployment);
    name.addBasePathMapping(this.api, { stage: this.api.deploymentStage });
    return name;
  }

  private acknowledgeFindings(): void {
    const noAuthorizer =
      'Authentication is the client certificate the mTLS custom domain demands (the only way in: execute-api is disabled); authorisation is Cedar policy in the handler, on the certificate subject.';
    for (const method of this.methods) {
      Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason: noAuthorizer });
      Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason: noAuthorizer });
    }
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
