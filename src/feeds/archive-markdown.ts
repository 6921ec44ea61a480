import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { NodeHtmlMarkdown } from 'node-html-markdown';
import { stringify } from 'yaml';
import type { ArchiveStore, ArchivedFeed, ArchivedItem } from '../store/archive.js';
import { keptWalk, type ExportProgress, type KeptItems } from './archive-export.js';
import type { FeedItem } from './model.js';
import { absoluteUrl } from './absolute.js';

/** An image behind one of our root-relative /proxy links, or undefined when it cannot be had. */
export type MediaGetter = (path: string) => Promise<{ body: Buffer; type: string } | undefined>;

export interface MarkdownOptions {
  /** Where our root-relative links (/proxy, /play) point in the files: PUBLIC_URL or the request's origin. */
  base: string;
  /** Given: images are bundled in the tar beside the items (`?media=1`); otherwise they stay links. */
  media?: MediaGetter;
  only?: ArchivedFeed;
  progress?: (p: ExportProgress) => void;
  /** Items as served, bodies kept by their sources given back; by default as the archive holds them. */
  kept?: KeptItems;
}

const EXT: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'image/gif': 'gif', 'image/avif': 'avif' };
const PROXY_LINK = /^\/proxy\?/;

/** A name part: letters and digits of any script, the rest one dash; never empty, never a dot file. */
export function slug(text: string, max: number): string {
  const s = text
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
  return [...s].slice(0, max).join('').replace(/-+$/, '') || 'item';
}

/** The folder of a feed in the tar: its path without /feeds/ (e.g. douyin-user-MS4w…), else its id. */
export function feedFolder(feed: ArchivedFeed): string {
  return slug(feed.url.replace(/^\/feeds\//, '') || feed.feed, 80);
}

const iso = (t: number | undefined) => (t === undefined || !Number.isFinite(t) ? undefined : new Date(t).toISOString());

/**
 * HTML to Markdown. node-html-markdown rather than turndown: a third of the time and of the memory per
 * item (turndown builds a whole DOM for each), which an export of 100 000 items feels.
 */
function converter(): (html: string) => string {
  const nhm = new NodeHtmlMarkdown(
    { bulletMarker: '-', codeBlockStyle: 'fenced' },
    {
      // A video or audio has no text for Markdown to keep: a link to it instead.
      'video,audio': ({ node }) => {
        const src = node.getAttribute('src') ?? /\ssrc=(["'])([^"']+)\1/.exec(node.innerHTML)?.[2]?.replace(/&amp;/g, '&');
        return src ? { content: `[▶ ${node.tagName.toLowerCase()}](${src})`, recurse: false, surroundingNewlines: 2 } : { ignore: true };
      },
    },
  );
  return (html) => nhm.translate(html);
}

/**
 * The archive as a tar of Markdown files: per feed a folder, per item one file with YAML front matter
 * (title, dates, link, source, whether it is still listed or was deleted, enclosures) and its body in
 * Markdown. Images stay links to /proxy, absolute against `base`, or with `media` are fetched through
 * /proxy and bundled in the feed's `media/` folder (one copy per image per feed). The last entry,
 * `feedgate-export.json`, tells what was written and which images could not be had.
 * Items are read in batches and written with the tar's backpressure: memory stays flat.
 */
export function markdownTar(store: ArchiveStore, opts: MarkdownOptions): Readable {
  const pack = tar.pack();
  const td = converter();
  const entry = (name: string, body: Buffer | string, mtime?: number) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, mtime: mtime ? new Date(mtime) : new Date() }, body, (err) => (err ? reject(err) : resolve())));
  const abs = (url: string) => absoluteUrl(opts.base, url);

  async function run(): Promise<void> {
    const walk = await keptWalk(store, opts.only, opts.kept, opts.progress);
    const media = { bundled: 0, failed: [] as string[] };
    const folders = new Set<string>();
    for (const f of walk.feeds) {
      let folder = feedFolder(f);
      // Two feeds whose paths slug alike get their own folders.
      if (folders.has(folder)) folder = `${folder}-${createHash('sha1').update(f.feed).digest('hex').slice(0, 8)}`;
      folders.add(folder);
      const bundled = new Map<string, string | null>();
      /** A /proxy link as the file shows it: bundled (relative), else absolute. */
      const image = async (url: string): Promise<string> => {
        if (!opts.media || !PROXY_LINK.test(url)) return abs(url);
        let local = bundled.get(url);
        if (local === undefined) {
          const got = await opts.media(url).catch(() => undefined);
          const ext = got && EXT[got.type.split(';')[0]!.trim()];
          if (got && ext) {
            local = `media/${createHash('sha1').update(got.body).digest('hex').slice(0, 16)}.${ext}`;
            await entry(`${folder}/${local}`, got.body);
            media.bundled++;
          } else {
            local = null;
            media.failed.push(abs(url));
          }
          bundled.set(url, local);
        }
        return local === null ? abs(url) : local;
      };
      for await (const { rows, items } of walk.batches(f)) {
        for (const [n, r] of rows.entries()) {
          // Unique in the folder by its seq: nothing to remember across a feed of any size.
          await entry(`${folder}/${itemFileName(r, items[n]!)}`, await itemMarkdown(f, r, items[n]!, td, image, abs), r.lastSeen);
        }
      }
    }
    const summary = { type: 'feedgate-archive-markdown', exported_at: new Date().toISOString(), feeds: walk.feeds.length, items: walk.done(), images_bundled: media.bundled, images_failed: media.failed };
    await entry('feedgate-export.json', `${JSON.stringify(summary, null, 2)}\n`);
    pack.finalize();
  }
  run().catch((err: Error) => pack.destroy(err));
  // A Node stream, so koa and pipeline() take it as one. Through a generator of our own: Readable.from()
  // given the pack itself (a streamx stream) kept something of every entry, 450 bytes each (Node 20).
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const c of pack as AsyncIterable<Buffer>) yield c;
  }
  return Readable.from(chunks());
}

/** `2025-01-06-12-title.md`: the item's date, its seq (unique per feed), its title. */
function itemFileName(r: ArchivedItem, item: FeedItem): string {
  return `${new Date(r.sortAt).toISOString().slice(0, 10)}-${r.seq}-${slug(item.title || item.guid, 50)}.md`;
}

async function itemMarkdown(f: ArchivedFeed, r: ArchivedItem, item: FeedItem, td: (html: string) => string, image: (url: string) => Promise<string>, abs: (url: string) => string): Promise<string> {
  // A <source> inside a video becomes the video's src: the converter drops the element otherwise.
  let html = (item.contentHtml ?? '').replace(/<(video|audio)\b([^>]*)>\s*<source\b[^>]*?\ssrc=(["'])([^"']+)\3[^>]*>/gi, '<$1$2 src=$3$4$3>');
  // Every /proxy image in the body, bundled or absolute; other root-relative links (/play) absolute.
  const srcs = [...new Set([...html.matchAll(/\s(?:src|poster)=(["'])([^"']+)\1/g)].map((m) => m[2]!.replace(/&amp;/g, '&')))];
  const map = new Map<string, string>();
  for (const s of srcs) map.set(s, await image(s));
  html = html.replace(/(\s(?:src|poster|href)=)(["'])([^"']+)\2/g, (_m, attr: string, q: string, v: string) => {
    const url = v.replace(/&amp;/g, '&');
    return `${attr}${q}${(map.get(url) ?? abs(url)).replace(/&/g, '&amp;')}${q}`;
  });
  const front: Record<string, unknown> = {
    title: item.title,
    guid: item.guid,
    link: item.link && abs(item.link),
    source: r.source,
    feed: f.title,
    feed_url: abs(f.url),
    published: iso(item.published),
    updated: iso(item.updated),
    first_seen: iso(r.firstSeen),
    last_seen: iso(r.lastSeen),
    listed: r.listed,
    deleted: r.gone,
    authors: item.authors?.map((a) => a.name),
    tags: item.categories,
    image: item.image && (await image(item.image)),
    enclosures: item.enclosures?.map((e) => ({ url: abs(e.url), type: e.type, length: e.length, duration: e.duration })),
  };
  for (const k of Object.keys(front)) if (front[k] === undefined) delete front[k];
  const body = html ? td(html) : (item.summary ?? '');
  return `---\n${stringify(front, { lineWidth: 0 })}---\n\n# ${item.title.replace(/\n/g, ' ')}\n\n${body}\n`;
}
