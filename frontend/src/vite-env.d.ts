interface ImportMetaEnv {
  readonly VITE_BACKEND_URL?: string;
  readonly VITE_TICKER_URL?: string;
  readonly VITE_ALERTS_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
