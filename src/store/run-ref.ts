// How a user names a run on the command line: digits are a run id, anything else is a run key (or
// a prefix of exactly one run's key; store.runs.get and store.circuits.get resolve it).

export function parseRunRef(text: string | number): number | string {
  if (typeof text === 'number') return text;
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}
