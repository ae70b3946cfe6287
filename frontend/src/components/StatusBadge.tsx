const TONES: Record<string, string> = {
  active: 'success',
  verified: 'success',
  pending: 'warning',
  pending_verification: 'warning',
  unverified: 'warning',
  expired: 'warning',
  invalid: 'danger',
  revoked: 'danger',
  suspended: 'danger',
  deactivated: 'neutral',
};

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  const tone = TONES[status] ?? 'neutral';
  return <span className={`badge badge--${tone}`}>{label ?? status.replace(/_/g, ' ')}</span>;
}
