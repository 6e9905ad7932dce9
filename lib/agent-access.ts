// The access matrix of docs/contracts.md ("IAM access matrix"): per agent, exactly the DynamoDB
// actions its adapters send, the indexes it queries, the archive prefixes it lists and the state
// machine actions it calls. The stack grants this and nothing else; test/infra/iam-least-privilege
// checks the synthesized roles against its own copy of the matrix.
import type { AgentName } from './constructs/agent-function.js';
import type { TableAccess, TableName } from './constructs/data-tables.js';

/** What an agent may call on the order lifecycle. */
export type StateMachineAccess = 'start' | 'describe' | 'taskResponse';

export interface AgentAccess {
  readonly tables: Partial<Record<TableName, TableAccess>>;
  /**
   * Every agent appends to the audit log (records/ objects) and may sign a checkpoint by the count
   * rule (checkpoints/, listed to find the latest). `listRecords`: also list records/, for the
   * compliance agent's proofs.
   */
  readonly listArchiveRecords: boolean;
  readonly stateMachine: readonly StateMachineAccess[];
}

/**
 * The audit log's append (functions/core/audit-chain.ts on functions/adapters/dynamodb-audit-index.ts):
 * GetItem the head, PutItem it conditionally, BatchWriteItem the record items.
 */
const AUDIT_APPEND: TableAccess = { actions: ['GetItem', 'PutItem', 'BatchWriteItem'] };
/** The accounts' risk state (functions/adapters/dynamodb-account-risk-store.ts): read, replace whole. */
const RISK_STATE: TableAccess = { actions: ['GetItem', 'PutItem'] };
/** Everything the pre-trade checks read through the reference cache (profiles, prices, lists, halts). */
const REFERENCE_SNAPSHOT: TableAccess = { actions: ['GetItem', 'BatchGetItem', 'Query'] };
/**
 * A trader's entitlements (`TRADER#<id>` / `ENTITLEMENT`), read by the enforcement point of an
 * agent whose routes name an account (functions/core/access.ts answers `account_entitled`).
 */
const ENTITLEMENTS: TableAccess = { actions: ['GetItem'] };

export const AGENT_ACCESS: Record<AgentName, AgentAccess> = {
  'order-router': {
    tables: {
      // create (conditional PutItem, GetItem read-back), get.
      orders: { actions: ['GetItem', 'PutItem'] },
      // Is the account known (its risk profile item); the trader's entitlements.
      reference: ENTITLEMENTS,
      // The status answer lists the order's audit history.
      audit: { ...AUDIT_APPEND, indexes: ['by-order'] },
    },
    listArchiveRecords: false,
    stateMachine: ['start', 'describe'],
  },
  risk: {
    tables: {
      // recordRisk: a conditional UpdateItem, GetItem on refusal.
      orders: { actions: ['GetItem', 'UpdateItem'] },
      // The checks' reads, and the risk officers' API: puts, conditional updates, a halt's delete
      // (the only DeleteItem on the platform), the limit-change listing.
      reference: {
        actions: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
        indexes: ['limit-changes-by-status'],
      },
      positions: { actions: ['Query'] },
      riskState: RISK_STATE,
      audit: AUDIT_APPEND,
    },
    listArchiveRecords: false,
    stateMachine: [],
  },
  approval: {
    tables: {
      // create, get, transition / task token (conditional UpdateItem), pending by status.
      approvals: { actions: ['GetItem', 'PutItem', 'UpdateItem'], indexes: ['by-status'] },
      riskState: RISK_STATE,
      audit: AUDIT_APPEND,
    },
    listArchiveRecords: false,
    stateMachine: ['taskResponse'],
  },
  execution: {
    tables: {
      // get, recordExecution (the conditional UpdateItem that consumes the risk approval).
      orders: { actions: ['GetItem', 'UpdateItem'] },
      approvals: { actions: ['GetItem'] },
      // The re-check of an order that waited reads what the pre-trade checks read.
      reference: REFERENCE_SNAPSHOT,
      positions: { actions: ['Query'] },
      riskState: RISK_STATE,
      audit: AUDIT_APPEND,
    },
    listArchiveRecords: false,
    stateMachine: [],
  },
  'position-tracker': {
    tables: {
      // list (Query), getWithLedger (GetItem), putIfVersion (conditional UpdateItem).
      positions: { actions: ['GetItem', 'Query', 'UpdateItem'] },
      // Prices of the held symbols, in one BatchGetItem; the trader's entitlements.
      reference: { actions: ['GetItem', 'BatchGetItem'] },
      riskState: RISK_STATE,
      audit: AUDIT_APPEND,
    },
    listArchiveRecords: false,
    stateMachine: [],
  },
  compliance: {
    tables: {
      // record_failure: did the order fill (it then keeps its reservation)?
      orders: { actions: ['GetItem'] },
      riskState: RISK_STATE,
      // query_audit_log and the reports: by order, by event type, by trader.
      audit: { ...AUDIT_APPEND, indexes: ['by-order', 'by-type', 'by-trader'] },
    },
    listArchiveRecords: true,
    // No DescribeExecution: a task's lifecycle identity comes from the state machine's own context
    // in the payload (functions/caller-identity.ts), and compliance describes no execution.
    stateMachine: [],
  },
};
