import { describe, expect, it } from 'vitest';
import { deviceName, formatDateTime } from './format';

describe('formatDateTime', () => {
  it('writes the time in the profile time zone, naming the zone', () => {
    const text = formatDateTime('2026-11-30T21:00:00Z', 'Asia/Kolkata');
    expect(text).toMatch(/2:30/); // 21:00 UTC is 02:30 the next day in India
    expect(text).toMatch(/GMT\+5:30|IST/);
  });

  it('falls back to the browser zone for an unknown zone name', () => {
    expect(formatDateTime('2026-11-30T21:00:00Z', 'Mars/Olympus')).not.toBe('—');
  });
});

describe('deviceName', () => {
  it('names a device the same way wherever it appears', () => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
    expect(deviceName(ua, 'stored label')).toBe(deviceName(ua));
    expect(deviceName(null, 'Pixel 8')).toBe('Pixel 8');
    expect(deviceName(null)).toBe('Unknown device');
  });
});
