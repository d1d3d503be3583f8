/**
 * The alert model (docs/alerting.md, "Semantics"): Prometheus's alert states, labels, annotations and
 * fingerprints, and the transition records written to pulse-alerts.
 */
export type Labels = Readonly<Record<string, string>>;

/** pending → firing → resolved; a pending alert whose condition ends before `for` becomes inactive. */
export type AlertStatus = 'pending' | 'firing' | 'resolved' | 'inactive';

/** One record on pulse-alerts (key: the fingerprint): an alert as it is after a transition. */
export interface AlertTransition {
  fingerprint: string;
  status: AlertStatus;
  rule: string;
  labels: Labels;
  annotations: Labels;
  /** When the condition first held (ms since the epoch, evaluator time). */
  activeAt: number;
  /** When it started firing (0 while pending). */
  startsAt: number;
  /** When it resolved or went inactive (0 while pending or firing). */
  endsAt: number;
  /** The value that decided the transition (a count, a score, a lag). */
  value: number;
  /** When the transition happened (evaluator time). */
  at: number;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;
const SEPARATOR = 0xff;

/**
 * The fingerprint of a label set as Prometheus and Alertmanager compute it (FNV-1a 64 over the names
 * in sorted order, each name and value followed by the byte 0xff), as 16 hex digits: the same alert
 * has the same fingerprint here, in Alertmanager and in webhook payloads.
 */
export function fingerprint(labels: Labels): string {
  let h = FNV_OFFSET;
  const step = (byte: number) => {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK;
  };
  for (const name of Object.keys(labels).sort()) {
    for (const b of Buffer.from(name, 'utf8')) step(b);
    step(SEPARATOR);
    for (const b of Buffer.from(labels[name]!, 'utf8')) step(b);
    step(SEPARATOR);
  }
  return h.toString(16).padStart(16, '0');
}

const TEMPLATE = /\{\{\s*(\$value|\$labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}/g;

/** Expands `{{ $labels.name }}` and `{{ $value }}` in an annotation, as Prometheus's templates do. */
export function expandTemplate(text: string, labels: Labels, value: number): string {
  return text.replace(TEMPLATE, (_m, _whole: string, name: string | undefined) => (name === undefined ? formatValue(value) : (labels[name] ?? '')));
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

/** Template parts an annotation may use; anything else in `{{ }}` is a configuration error. */
export function checkTemplate(text: string): string | null {
  const stripped = text.replace(TEMPLATE, '');
  return /\{\{|\}\}/.test(stripped) ? 'only {{ $labels.<name> }} and {{ $value }} are expanded' : null;
}
