/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const API_TARGET = process.env.VITE_API_TARGET ?? 'http://127.0.0.1:8001';
const proxied = { target: API_TARGET, changeOrigin: false };

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/v1': proxied,
      '/.well-known': proxied,
      '/health': proxied,
    },
  },
  build: {
    outDir: 'dist',
    // No source maps in the build the service serves (they would publish the source);
    // `make dev-frontend` serves its own maps.
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    pool: 'threads',
    maxWorkers: 2,
    restoreMocks: true,
    testTimeout: 20_000,
  },
});
