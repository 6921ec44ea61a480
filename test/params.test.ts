import { describe, expect, it } from 'vitest';
import type { FeedItem } from '../src/feeds/model.js';
import { applyFeedParams, parseFeedParams } from '../src/feeds/params.js';

const NOW = Date.UTC(2026, 10, 25);
const items: FeedItem[] = [
  { guid: 'old', title: 'Old Movie', summary: 'a classic', authors: [{ name: 'Alice' }], categories: ['film'], published: NOW - 10 * 86400_000 },
  { guid: 'new', title: 'New Show', contentHtml: '<p>fresh episode</p>', authors: [{ name: 'Bob' }], categories: ['tv', 'drama'], published: NOW - 3600_000 },
  { guid: 'undated', title: 'Pinned note', summary: 'no date here' },
];
const run = (q: Record<string, string>) => applyFeedParams(items, parseFeedParams(q, { maxLimit: 50 }), NOW).map((i) => i.guid);

describe('common parameters (RSSHub semantics)', () => {
  it('sorts newest first by default; sorted=false keeps source order', () => {
    expect(run({})).toEqual(['new', 'old', 'undated']);
    expect(run({ sorted: 'false' })).toEqual(['old', 'new', 'undated']);
  });

  it('filter matches title, description, author or category', () => {
    expect(run({ filter: 'classic' })).toEqual(['old']);
    expect(run({ filter: 'Bob' })).toEqual(['new']);
    expect(run({ filter: '^drama$' })).toEqual(['new']);
  });

  it('the field filters AND together and are ignored when filter is set', () => {
    expect(run({ filter_title: 'Show', filter_author: 'Bob' })).toEqual(['new']);
    expect(run({ filter_title: 'Show', filter_author: 'Alice' })).toEqual([]);
    expect(run({ filter: 'Movie', filter_title: 'Show' })).toEqual(['old']);
    expect(run({ filter_category: 'film' })).toEqual(['old']);
    expect(run({ filter_description: 'episode' })).toEqual(['new']);
  });

  it('filterout drops by title or description; the field variants refine it', () => {
    expect(run({ filterout: 'classic' })).toEqual(['new', 'undated']);
    expect(run({ filterout_author: 'Alice' })).toEqual(['new', 'undated']);
    expect(run({ filterout_category: 'tv' })).toEqual(['old', 'undated']);
    // filterout_title replaces filterout for titles only; descriptions still use filterout.
    expect(run({ filterout: 'classic', filterout_title: 'Pinned' })).toEqual(['new']);
  });

  it('case sensitivity is on by default', () => {
    expect(run({ filter: 'old movie' })).toEqual([]);
    expect(run({ filter: 'old movie', filter_case_sensitive: 'false' })).toEqual(['old']);
    expect(run({ filterout: 'NEW', filter_case_sensitive: 'false' })).toEqual(['old', 'undated']);
  });

  it('filter_time keeps recent and undated items; limit applies after filtering', () => {
    expect(run({ filter_time: '86400' })).toEqual(['new', 'undated']);
    expect(run({ filterout: 'Show', limit: '1' })).toEqual(['old']);
  });

  it('never mutates the cached items', () => {
    const before = JSON.stringify(items);
    run({ filter: 'x', limit: '1' });
    expect(JSON.stringify(items)).toBe(before);
  });
});
