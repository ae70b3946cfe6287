import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { setAccessToken } from '../services/apiClient';
import { server } from './server';

// Two cores shared by two test workers: give findBy/waitFor room.
configure({ asyncUtilTimeout: 4000 });

// Node's BroadcastChannel spans the worker threads vitest runs test files in: a "logout" posted
// by one file's app would sign out another's. Tests that need it stub their own.
Object.defineProperty(globalThis, 'BroadcastChannel', { value: undefined, configurable: true, writable: true });

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  cleanup();
  server.resetHandlers();
  setAccessToken(null);
  sessionStorage.clear();
});
afterAll(() => server.close());
