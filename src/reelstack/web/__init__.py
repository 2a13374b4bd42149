"""The browser app: built by Vite from `web/` into `static/`, served at `/`."""
