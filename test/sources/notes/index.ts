import type { SettingsOf } from '../../../src/config.js';
import { setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../../../src/feeds/descriptor.js';
import type { FeedData } from '../../../src/feeds/model.js';
import type { MessageKey } from '../../../src/i18n/index.js';
import { UpstreamError, badRequest } from '../../../src/http/errors.js';
import type { PlatformRule } from '../../../src/proxy/platforms.js';
import { NOTES_SETTINGS } from './settings.js';
import { NOTES_MIGRATIONS, notesStore } from './store.js';

/**
 * A source that lives in test/, to prove a source is one folder: settings, media rule, migrations and
 * store, messages, routes. Mounted with createApp({ sources: [...SOURCES, notesModule] }); nothing in
 * src/ names it.
 */
function notesSource(ctx: SourceContext): SourceDescriptor {
  // Its settings, typed from its own declaration (the app's Config type lists the built-in sources only).
  const config = ctx.config as unknown as SettingsOf<typeof NOTES_SETTINGS>;
  const http = ctx.upstream('notes', config.NOTES_API_URL, { setting: 'NOTES_API_URL' as never });
  const store = notesStore(ctx.db);
  const k = (key: string) => key as MessageKey;
  return {
    name: 'notes',
    title: 'Notes',
    description: 'A test-only source',
    settings: [setting(ctx.config, 'NOTES_TOKEN' as never, true, k('setting.NOTES_TOKEN'))],
    upstreams: [http],
    forms: [{ path: '/feeds/notes/:board', fields: [{ name: 'board', label: k('field.notes.board'), in: 'path', required: true }] }],
    routes: [
      {
        kind: 'feed',
        path: '/feeds/notes/:board',
        summary: 'the notes of one board',
        source: {
          parse: (params) => {
            if (!/^[a-z]{1,20}$/.test(params.board ?? '')) throw badRequest('a board is 1 to 20 lowercase letters');
            return { board: params.board! };
          },
          key: (p) => `notes:${p.board}`,
          async fetch(p, signal): Promise<FeedData> {
            const { data } = await http.json({ path: `/boards/${p.board}`, headers: { 'x-notes-token': config.NOTES_TOKEN }, signal });
            const body = data as { notes?: Array<{ id: string; title: string; image: string }> };
            if (!Array.isArray(body?.notes)) throw new UpstreamError('notes', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'the notes board answered without notes');
            const notes = body.notes.slice(0, config.NOTES_MAX_ITEMS);
            const seen = await store.record(notes);
            return {
              id: `notes:${p.board}`,
              title: ctx.texts.t(k('notes.feed.title'), { board: p.board }),
              link: `${config.NOTES_API_URL}/boards/${p.board}`,
              description: ctx.texts.t(k('source.notes.description')),
              items: notes.map((n) => ({
                guid: n.id,
                title: n.title,
                link: `${config.NOTES_API_URL}/notes/${n.id}`,
                contentHtml: `<p><img src="${ctx.links.image(n.image, 'notes')}" alt=""></p>`,
                published: seen.get(n.id),
              })),
            };
          },
        },
      },
      {
        kind: 'api',
        path: '/api/notes/seen',
        summary: 'how many notes were seen',
        async handler(c) {
          c.body = { seen: await store.count() };
        },
      },
    ],
  };
}

const MEDIA: Readonly<Record<string, PlatformRule>> = {
  notes: { hosts: ['notes-cdn.example'], headers: { 'user-agent': 'notes-reader', 'x-notes-cdn': 'yes' }, volatileParams: ['sig'] },
};

export const notesModule: SourceModule = {
  name: 'notes',
  settings: [NOTES_SETTINGS],
  media: MEDIA,
  migrations: NOTES_MIGRATIONS,
  messages: {
    en: { 'source.notes.title': 'Notes', 'source.notes.description': 'Notes from a board', 'notes.feed.title': 'Notes on {board}', 'setting.NOTES_TOKEN': 'The board token', 'field.notes.board': 'Board' },
    'zh-CN': { 'source.notes.title': '便签', 'source.notes.description': '一个看板上的便签', 'notes.feed.title': '{board} 上的便签', 'setting.NOTES_TOKEN': '看板令牌', 'field.notes.board': '看板' },
  },
  create: notesSource,
};
