/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the Rayline ingress; empty (relative URLs) by default. */
  readonly VITE_API_BASE?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
