// The limits in force at a moment: an account's base limits with its approved temporary changes
// that have not expired laid over them (latest approval last, so it wins). A temporary change
// reverts by itself: past its `until` it is simply no longer laid over.
import type { FirmRiskSettings, LimitValues, RiskProfile, SymbolLimits } from './model.js';
import { parseNs } from './time.js';

/** The profile with every temporary change in force at `nowIso` applied; `temporary` dropped. */
export function effectiveProfile(profile: RiskProfile, nowIso: string): RiskProfile {
  const now = parseNs(nowIso);
  if (now === undefined) throw new RangeError(`bad timestamp ${nowIso}`);
  // Compared as instants, not strings: an `until` written with fewer fractional digits still ends on time.
  const active = (profile.temporary ?? []).filter((t) => (parseNs(t.until) ?? 0n) > now);
  const { temporary: _t, ...base } = profile;
  if (active.length === 0) return base;
  let out: RiskProfile = { ...base, ...(base.symbol_limits ? { symbol_limits: { ...base.symbol_limits } } : {}) };
  for (const t of active) out = applyLimitValues(out, t.values);
  // Part of the version: a decision made under a temporary change names it.
  return { ...out, version: `${base.version}+${active.map((t) => t.change_id).join('+')}` };
}

/** `profile` with the values set (field paths as in LimitValues); symbol maps copied, not shared. */
export function applyLimitValues(profile: RiskProfile, values: LimitValues): RiskProfile {
  const out: RiskProfile = { ...profile };
  const symbols: Record<string, SymbolLimits> = { ...(profile.symbol_limits ?? {}) };
  let touchedSymbols = false;
  for (const [path, value] of Object.entries(values)) {
    const parts = path.split('.');
    if (parts.length === 3 && parts[0] === 'symbol_limits' && parts[1] && parts[2]) {
      symbols[parts[1]] = { ...(symbols[parts[1]] ?? {}), [parts[2]]: value };
      touchedSymbols = true;
    } else {
      (out as unknown as Record<string, string | number>)[path] = value;
    }
  }
  if (touchedSymbols) out.symbol_limits = symbols;
  return out;
}

/** The value at a field path, or null when it is not set. */
export function limitValueAt(profile: RiskProfile | FirmRiskSettings, path: string): string | number | null {
  const parts = path.split('.');
  if (parts.length === 3 && parts[0] === 'symbol_limits' && parts[1] && parts[2]) {
    const v = (
      (profile as RiskProfile).symbol_limits?.[parts[1]] as Record<string, string | number | undefined> | undefined
    )?.[parts[2]];
    return v ?? null;
  }
  const v = (profile as unknown as Record<string, unknown>)[path];
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}
