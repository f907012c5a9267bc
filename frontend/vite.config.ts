// Builds into the Python package, so learners get the app without Node.js: the course API serves it at /app.
// Relative asset paths (base "./") because it is mounted under /app, not at the root.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "../course_lib/api/frontend_dist",
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      // TanStack Query marks its modules "use client" (for React Server Components); meaningless in a
      // client bundle, and the warning per module would bury real ones.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  test: { environment: "jsdom", globals: true },
});
