import { fileURLToPath } from 'node:url';

/** Repository root, resolved from this file so synth works from any working directory. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The order-lifecycle definition, shared with the local runner (docs/contracts.md). */
export const ORDER_LIFECYCLE_ASL = fileURLToPath(new URL('../statemachines/order-lifecycle.asl.json', import.meta.url));
