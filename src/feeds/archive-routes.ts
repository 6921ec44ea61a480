import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { RequestListener } from 'node:http';
import { publicBase } from '../http/base-url.js';
import { compressJson } from '../http/compress.js';
import { HttpError, badRequest } from '../http/errors.js';
import { loopback } from '../upstream/loopback.js';
import type { ArchiveStore } from '../store/archive.js';
import { exportLines, type KeptItems } from './archive-export.js';
import { markdownTar } from './archive-markdown.js';
import { keptFeed, searchParams } from './archive.js';
import type { FeedItem } from './model.js';
import { absoluteUrl } from './absolute.js';
import { positiveInt, single } from './params.js';

/**
 * The archive's API: `/api/search` (matches as JSON, paged by `before_id`) and `/api/archive/export`
 * (JSON Lines, streamed). Both behind the access token.
 */
export interface ArchiveRouteDeps {
  store: ArchiveStore;
  token: Middleware;
  enabled: boolean;
  publicUrl: string;
  /** The app itself: `media=1` fetches images through its /proxy. */
  listener: () => RequestListener;
  maxImageBytes: number;
  /** Items as served, bodies kept by their sources given back (FeedArchive.items, unmarked). */
  kept: KeptItems;
}

export function archiveRoutes(router: Router, deps: ArchiveRouteDeps): void {
  const off = () => {
    if (!deps.enabled) throw new HttpError(404, 'NO_ARCHIVE', 'the archive is off (ARCHIVE_MAX_ITEMS=0): set it above 0 to keep items');
  };
  router.get('/api/search', deps.token, compressJson, async (c) => {
    off();
    const p = searchParams(c.query);
    const limit = positiveInt(c.query, 'limit', 500) ?? 50;
    const beforeRaw = single(c.query, 'before_id');
    if (beforeRaw !== undefined && !/^\d{1,15}$/.test(beforeRaw)) throw badRequest('parameter before_id must be a whole number (the next_before_id of the previous page)');
    const rows = await deps.store.search(p.query, { source: p.source, limit, beforeId: beforeRaw === undefined ? undefined : Number(beforeRaw) });
    c.set('Cache-Control', 'no-store');
    // Our own links (/proxy, /play) absolute, as a feed gives them: a script has no other base.
    const base = publicBase(c, deps.publicUrl);
    const abs = (u: string) => absoluteUrl(base, u);
    c.body = {
      query: p.q,
      source: p.source ?? null,
      items: rows.map((r) => {
        const item = JSON.parse(r.data) as FeedItem;
        return {
          id: r.id,
          feed: r.feed,
          source: r.source,
          guid: r.guid,
          title: item.title,
          link: item.link ? abs(item.link) : null,
          published: item.published !== undefined ? new Date(item.published).toISOString() : null,
          first_seen: new Date(r.firstSeen).toISOString(),
          listed: r.listed,
          deleted: r.gone,
          summary: item.summary ?? null,
          image: item.image ? abs(item.image) : null,
          enclosures: (item.enclosures ?? []).map((e) => ({ ...e, url: abs(e.url) })),
        };
      }),
      next_before_id: rows.length === limit ? rows.at(-1)!.id : null,
    };
  });
  router.get('/api/archive/export', deps.token, async (c) => {
    off();
    const format = single(c.query, 'format') ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'markdown') throw badRequest(`parameter format must be jsonl (lossless, for import) or markdown (a tar of one file per item), got "${format.slice(0, 40)}"`);
    const mediaParam = single(c.query, 'media') ?? '0';
    if (mediaParam !== '0' && mediaParam !== '1') throw badRequest('parameter media must be 1 (bundle images in the tar) or 0');
    if (mediaParam === '1' && format !== 'markdown') throw badRequest('parameter media=1 goes with format=markdown (JSON Lines keeps links, as served)');
    const feedParam = single(c.query, 'feed');
    let only;
    if (feedParam !== undefined) {
      only = await keptFeed(deps.store, feedParam);
      if (!only) throw new HttpError(404, 'NO_SUCH_FEED', `the archive keeps no feed ${feedParam.slice(0, 200)}: give its path (/feeds/…) or its id as /api/archive/export lists them`);
    }
    const name = `feedgate-archive${only ? `-${only.feed.replace(/[^\w.-]+/g, '_')}` : ''}`;
    c.set('Cache-Control', 'no-store');
    if (format === 'jsonl') {
      c.type = 'application/x-ndjson; charset=utf-8';
      c.attachment(`${name}.jsonl`);
      c.body = Readable.from(exportLines(deps.store, only, undefined, deps.kept));
      return;
    }
    const base = publicBase(c, deps.publicUrl);
    const self = mediaParam === '1' ? await loopback(deps.listener()) : undefined;
    const body = markdownTar(deps.store, { base, only, kept: deps.kept, media: self && ((path) => self.get(path, deps.maxImageBytes)) });
    if (self) body.once('close', () => void self.close());
    c.type = 'application/x-tar';
    c.attachment(`${name}.tar`);
    c.body = body;
  });
}
