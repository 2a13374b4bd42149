import { defineConfig } from "vite";

// Built into the Python package, served by `reelstack serve` at `/`.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../src/reelstack/web/static",
    emptyOutDir: true,
    target: "es2020",
    assetsDir: "assets",
    chunkSizeWarningLimit: 600,
  },
});
