/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The API lives on the Serve ingress; in `npm run dev` we forward its routes to a local
// ingress so the UI can keep using relative URLs (the same build works behind any host).
const INGRESS = 'http://127.0.0.1:8000';
const proxied = ['/v1', '/health', '/ready', '/model-info', '/metrics'];

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: {
      ...Object.fromEntries(proxied.map((prefix) => [prefix, { target: INGRESS, changeOrigin: false }])),
      // A regex, not a prefix: the UI's own /predictions route must stay with Vite.
      '^/predict(?:[/?]|$)': { target: INGRESS, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    // Generous: CI shares two cores with Ray, MLflow and Chromium.
    testTimeout: 30_000,
    css: false,
    restoreMocks: true,
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
