/** Exit codes: 0 ok (scan: clean or inconclusive), 1 backdoor found, 2 bad input, 3 internal error, 130 interrupted. */
export const EXIT = { ok: 0, backdoor: 1, badInput: 2, internal: 3, interrupted: 130 } as const;
