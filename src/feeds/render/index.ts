import { renderAtom } from './atom.js';
import { renderJson } from './json.js';
import { renderRss } from './rss.js';
import type { Renderer } from './common.js';

export type { RenderOptions } from './common.js';

export const FORMATS = ['rss', 'atom', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export const formats: Record<Format, { render: Renderer; contentType: string }> = {
  rss: { render: renderRss, contentType: 'application/rss+xml; charset=utf-8' },
  atom: { render: renderAtom, contentType: 'application/atom+xml; charset=utf-8' },
  json: { render: renderJson, contentType: 'application/feed+json; charset=utf-8' },
};
