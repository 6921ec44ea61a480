import type { SourceContext, SourceDescriptor, SourceModule } from '../descriptor.js';
import type { FeedData } from '../model.js';
import { searchParams } from '../archive.js';
import { escapeHtml } from '../../http/html.js';
import type { MessageKey } from '../../i18n/index.js';

/** How many changes the health feed lists. */
const EVENTS = 100;

/**
 * feedgate's own feed: every change of a source's health (credentials expired, blocked, recovered…), so
 * people read "the Douyin cookie stopped working" where they read everything else.
 */
function feedgateSource(ctx: SourceContext): SourceDescriptor {
  const { t } = ctx.texts;
  return {
    name: 'feedgate',
    title: 'feedgate',
    description: 'The health of every source, as a feed.',
    settings: [],
    upstreams: [],
    archive: false,
    forms: [{ path: '/feeds/feedgate/health', fields: [] }],
    routes: [
      {
        kind: 'feed',
        path: '/feeds/feedgate/health',
        summary: 'every change of a source\'s health, newest first',
        source: {
          parse: () => ({}),
          // A new change is a new feed at once, whatever CACHE_TTL says.
          key: async () => `feedgate:health:${(await ctx.health.events(1))[0]?.id ?? 0}`,
          async fetch(): Promise<FeedData> {
            const events = await ctx.health.events(EVENTS);
            return {
              id: 'feedgate:health',
              title: t('health.feed.title'),
              link: '/',
              description: t('health.feed.description'),
              items: events.map((e) => {
                const state = t(`health.state.${e.to}` as MessageKey);
                const title = t('health.alert.title', { source: t(`source.${e.source}.title` as MessageKey), account: e.account ? ` (${e.account})` : '', state });
                const lines = [e.message, e.setting ? t('health.alert.fix', { setting: e.setting }) : ''].filter(Boolean);
                return {
                  guid: `feedgate:health:${e.id}`,
                  title,
                  link: '/',
                  contentHtml: lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('') || `<p>${escapeHtml(state)}</p>`,
                  summary: lines.join('\n') || state,
                  published: e.at,
                  categories: [e.source, e.to],
                };
              }),
            };
          },
        },
      },
      {
        kind: 'feed',
        path: '/feeds/search',
        summary: 'every kept item of every source that contains ?q= (Chinese or English), newest first; &source= narrows it to one',
        source: {
          query: ['q', 'source'],
          parse: (_params, query) => searchParams(query),
          // New items kept make a new feed at once.
          key: async (p) => `feedgate:search:${await ctx.archive.lastId()}:${p.source ?? ''}:${p.q}`,
          async fetch(p): Promise<FeedData> {
            const rows = await ctx.archive.search(p.query, { source: p.source, limit: SEARCH_ITEMS });
            const kept = await ctx.keptItems(rows);
            return {
              id: `feedgate:search:${p.source ?? ''}:${p.q}`,
              title: p.source ? t('search.feed.titleIn', { q: p.q, source: t(`source.${p.source}.title` as MessageKey) }) : t('search.feed.title', { q: p.q }),
              link: '/',
              description: t('search.feed.description', { q: p.q }),
              items: rows.map((r, n) => {
                const item = kept[n]!;
                // One item can be kept by two feeds: the feed makes it distinct.
                return { ...item, guid: `${r.feed}#${r.guid}`, categories: [...(item.categories ?? []), r.source] };
              }),
            };
          },
        },
      },
    ],
  };
}

/** How many matches the search feed lists. */
const SEARCH_ITEMS = 100;

export const feedgateModule: SourceModule = { name: 'feedgate', create: feedgateSource };
