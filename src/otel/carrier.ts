import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/** Propagation through a message's headers (`SendOptions.headers` out, `delivery.headers` in). */
export const headerSetter: TextMapSetter<Record<string, string>> = {
  set(headers, key, value) {
    headers[key] = value;
  },
};

export const headerGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (headers) => Object.keys(headers),
  get(headers, key) {
    const value = headers[key];
    return typeof value === 'string' ? value : undefined;
  },
};
