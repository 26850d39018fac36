/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The Go server (make dev, :8080) owns every route; `npm run dev` serves the
// admin with hot reload on :5173 and proxies the backend routes to it.
const backend = 'http://localhost:8080';

export default defineConfig({
  // No React plugin: esbuild compiles TSX with the automatic runtime (see
  // tsconfig "jsx"). Fast refresh is traded for fewer build dependencies.
  esbuild: { jsx: 'automatic' },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': backend,
      '/auth': backend,
      '/dev': backend,
    },
  },
  build: {
    outDir: 'dist',
    // The Makefile puts back dist/.gitkeep (it keeps `go build` working on a
    // fresh clone, where dist/ is otherwise empty).
    emptyOutDir: true,
    // No source maps: they would be embedded in the binary and served.
    sourcemap: false,
  },
  test: {
    // Pure modules run in node; component tests opt into jsdom with a
    // `// @vitest-environment jsdom` first line.
    environment: 'node',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    setupFiles: ['src/test/setup.ts'],
    css: false,
  },
});
