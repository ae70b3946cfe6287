import { act } from '@testing-library/react';

interface CloseInit {
  code: number;
  reason: string;
  wasClean: boolean;
}

/**
 * A stand-in for the browser's WebSocket (`vi.stubGlobal('WebSocket', FakeWebSocket)`): the
 * test plays the server — `accept()`, `receive(message)`, `serverClose(code, reason)` — and
 * reads what the page sent (`sent`, `closedByClient`). Server events run inside `act`.
 */
export class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static latest(): FakeWebSocket {
    const socket = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!socket) throw new Error('no WebSocket was opened');
    return socket;
  }

  readonly url: string;
  readonly protocols: string[];
  readyState = FakeWebSocket.CONNECTING;
  protocol = '';
  readonly sent: string[] = [];
  closedByClient: { code: number | undefined } | null = null;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: CloseInit) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error('send() on a socket that is not open');
    this.sent.push(data);
  }

  close(code?: number): void {
    if (this.readyState >= FakeWebSocket.CLOSING) return;
    this.closedByClient = { code };
    this.readyState = FakeWebSocket.CLOSED;
    // A browser reports its own close asynchronously, like any other.
    setTimeout(() => this.onclose?.({ code: code ?? 1005, reason: '', wasClean: true }), 0);
  }

  /** The JSON messages the page sent. */
  sentMessages(): unknown[] {
    return this.sent.map((text) => JSON.parse(text) as unknown);
  }

  // ---- the server's side

  accept(protocol = 'bearer'): void {
    act(() => {
      this.readyState = FakeWebSocket.OPEN;
      this.protocol = protocol;
      this.onopen?.(new Event('open'));
    });
  }

  receive(message: unknown): void {
    act(() => this.onmessage?.({ data: JSON.stringify(message) }));
  }

  serverClose(code: number, reason = ''): void {
    act(() => {
      this.readyState = FakeWebSocket.CLOSED;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    });
  }
}
