import { loadPolicyEngine } from './functions/core/policy-engine.js';
const e = loadPolicyEngine();
for (let k = 0; k < 30; k++) {
  for (let i = 0; i < 100_000; i++) e.authorize({ principal: { type: 'Agent', id: 'risk' }, action: 'execute_trade', resource: { type: 'Agent', id: 'execution' }, context: { risk_check_id: `RC-${k}-${i}`, risk_approval_verified: true } });
  if (k % 5 === 4) { (globalThis as { gc?: () => void }).gc?.(); console.log(k, Math.round(process.memoryUsage().rss/1e6)); }
}
