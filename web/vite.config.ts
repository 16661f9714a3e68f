// The built client is served by the API itself at /app/ (api/web_client.py), from
// files inside the Python package, so `make run` needs no Node.js.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  build: {
    outDir: "../api/client_files",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline polyfill script: the page's Content-Security-Policy allows scripts from
    // this service only ('self').
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});
