import { renderAtom } from './atom.js';
import { renderJson } from './json.js';
import { renderRss } from './rss.js';
import type { Renderer } from './common.js';
import { renderable } from '../model.js';

export type { RenderOptions } from './common.js';

export const FORMATS = ['rss', 'atom', 'json'] as const;
export type Format = (typeof FORMATS)[number];

// Every format renders only what it can write: a time or count out of range is dropped, never thrown on.
const guarded =
  (render: Renderer): Renderer =>
  (feed, opts) =>
    render(renderable(feed), opts);

export const formats: Record<Format, { render: Renderer; contentType: string }> = {
  rss: { render: guarded(renderRss), contentType: 'application/rss+xml; charset=utf-8' },
  atom: { render: guarded(renderAtom), contentType: 'application/atom+xml; charset=utf-8' },
  json: { render: guarded(renderJson), contentType: 'application/feed+json; charset=utf-8' },
};
