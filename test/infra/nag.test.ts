// cdk-nag (AWS Solutions, NIST 800-53 rev 5, PCI DSS 3.2.1) on the synthesized platform (one
// variant: the API behind its mTLS custom domain, always): no unacknowledged error or warning, and
// every acknowledgment is on a resource, with a reason.
import { type App, type IPolicyValidationPlugin, Stack, Validations } from 'aws-cdk-lib';
import type { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compliancePacks } from '../../lib/compliance-packs.js';
import type { TradingPlatformStack } from '../../lib/trading-platform-stack.js';
import { createPlatformApp } from './synth-platform.js';

/** Every finding of a pack, as "severity rule path" lines, so a failure names what to fix. */
function findings(pack: IPolicyValidationPlugin, stack: Stack): string[] {
  const report = (pack as NagPack).validateScope(stack);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}`),
  );
}

/** The findings with every acknowledgment left out: what each acknowledgment must answer for. */
function unacknowledgedFindings(): { rule: string; path: string }[] {
  const acknowledge = Validations.prototype.acknowledge;
  Validations.prototype.acknowledge = () => {};
  try {
    const { app, stack } = createPlatformApp();
    app.synth();
    return compliancePacks(app).flatMap((pack) =>
      (pack as NagPack)
        .validateScope(stack)
        .violations.flatMap((v) =>
          v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
        ),
    );
  } finally {
    Validations.prototype.acknowledge = acknowledge;
  }
}

function acknowledgments(root: IConstruct): { path: string; node: IConstruct; rules: Record<string, string> }[] {
  return root.node
    .findAll()
    .flatMap((node) =>
      node.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .map((m) => ({ path: node.node.path, node, rules: m.data as Record<string, string> })),
    );
}

describe('cdk-nag', () => {
  let app: App;
  let stack: TradingPlatformStack;

  beforeAll(() => {
    ({ app, stack } = createPlatformApp());
    // Synthesize first: some resources (the API deployment, policies) take their final form then.
    app.synth();
  });

  it.each(['AwsSolutions', 'NIST.800.53.R5', 'PCI.DSS.321'])('%s: no unacknowledged error or warning', (name) => {
    const pack = compliancePacks(app).find((p) => p.name === name);
    expect(pack).toBeDefined();
    expect(findings(pack as IPolicyValidationPlugin, stack)).toEqual([]);
  });

  it('acknowledges per resource, never on the stack or the app, each with a specific reason', () => {
    const acks = acknowledgments(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const { path, node, rules } of acks) {
      expect(Stack.isStack(node) || node === app, path).toBe(false);
      for (const [rule, reason] of Object.entries(rules)) {
        expect(reason.length, `${path} ${rule}`).toBeGreaterThanOrEqual(60);
      }
    }
  });

  it('acknowledges only findings that exist (no stale acknowledgment)', () => {
    const raw = unacknowledgedFindings();
    const stale: string[] = [];
    for (const { path, rules } of acknowledgments(app)) {
      for (const id of Object.keys(rules).map((k) => k.replace(/^annotation::/i, ''))) {
        const used = raw.some((f) => f.rule === id && (f.path === path || f.path.startsWith(`${path}/`)));
        if (!used) stale.push(`${id} ${path}`);
      }
    }
    expect(stale).toEqual([]);
  });

  it('passes the same packs when they run inside synthesis, as in `cdk synth`', () => {
    const fresh = createPlatformApp();
    Validations.of(fresh.app).addPlugins(...compliancePacks(fresh.app));
    expect(() => fresh.app.synth()).not.toThrow();
  });
});
