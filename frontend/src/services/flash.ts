/**
 * A one-time message carried across a navigation the page does not control (after the MFA step,
 * the guest route sends the trader on to where they were heading). Kept in sessionStorage so a
 * reload shows it no more than once; never holds anything secret.
 */
const KEY = 'quantagro.flash';

export function setFlash(message: string): void {
  try {
    sessionStorage.setItem(KEY, message);
  } catch {
    /* storage disabled: the message is a courtesy */
  }
}

export function takeFlash(): string | null {
  try {
    const message = sessionStorage.getItem(KEY);
    sessionStorage.removeItem(KEY);
    return message;
  } catch {
    return null;
  }
}
