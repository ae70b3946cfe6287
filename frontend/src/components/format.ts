const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

function parse(value: string | null | undefined): Date | null {
  if (!value) return null;
  // Timestamps without a zone are UTC on this API.
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function formatDateTime(value: string | null | undefined, timeZone?: string | null): string {
  const date = parse(value);
  if (!date) return '—';
  if (timeZone) {
    try {
      // dateStyle/timeStyle cannot be combined with timeZoneName: spell the fields out.
      return new Intl.DateTimeFormat(undefined, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: 'numeric',
        minute: '2-digit',
        timeZone,
        timeZoneName: 'short',
      }).format(date);
    } catch {
      /* an unknown zone name: fall back to the browser's */
    }
  }
  return dateTime.format(date);
}

/**
 * The one name of a device, on Sessions and Activity alike: from its User-Agent when there is
 * one ("Chrome on Linux"), else the label the service stored.
 */
export function deviceName(userAgent: string | null | undefined, label?: string | null): string {
  if (userAgent) return describeUserAgent(userAgent);
  return label || 'Unknown device';
}

export function formatDate(value: string | null | undefined): string {
  const date = parse(value);
  return date ? dateOnly.format(date) : '—';
}

export function formatRelative(value: string | null | undefined, now: number = Date.now()): string {
  const date = parse(value);
  if (!date) return '—';
  const seconds = Math.round((date.getTime() - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}

/** "Chrome on Linux" from a User-Agent string (the full string stays in a tooltip). */
export function describeUserAgent(ua: string | null | undefined): string {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /Chrome\//.test(ua)
          ? 'Chrome'
          : /Safari\//.test(ua)
            ? 'Safari'
            : /^(curl|python|httpx|okhttp|node)/i.test(ua)
              ? (ua.split(/[/ ]/)[0] ?? 'Browser')
              : 'Browser';
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /iPhone|iPad|iOS/.test(ua)
      ? 'iOS'
      : /Mac OS X|Macintosh/.test(ua)
        ? 'macOS'
        : /Android/.test(ua)
          ? 'Android'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

const rupees = new Intl.NumberFormat('en-IN', {
  style: 'currency',
  currency: 'INR',
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const signedRupees = new Intl.NumberFormat('en-IN', {
  style: 'currency',
  currency: 'INR',
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: 'exceptZero',
});
// Market time: 24-hour clock with seconds, as trading terminals show it.
const clock = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** ₹1,23,456.70 (Indian digit grouping: the platform trades on NSE). */
export function formatPrice(value: number): string {
  return rupees.format(value);
}

/** +₹1,234.50 / −₹80.00 / ₹0.00 — profit and loss, changes. */
export function formatSignedPrice(value: number): string {
  return signedRupees.format(value);
}

export function formatTime(value: string | null | undefined): string {
  const date = parse(value);
  return date ? clock.format(date) : '—';
}
