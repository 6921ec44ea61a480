import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaArchive } from '../src/cache/media-archive.js';
import { openDb } from '../src/store/db.js';
import { tempDir } from './helpers/app.js';

describe('media archive', () => {
  it('keeps files within its bound, oldest out first, and survives a restart; leftovers are cleaned', async () => {
    const dir = tempDir();
    const db = openDb(dir);
    const archive = new MediaArchive(db, join(dir, 'archive'), 250);
    await archive.putBuffer('a', Buffer.alloc(100, 1), 'image/jpeg');
    await new Promise((r) => setTimeout(r, 5));
    await archive.putBuffer('b', Buffer.alloc(100, 2), 'image/jpeg');
    await new Promise((r) => setTimeout(r, 5));
    expect(archive.bytes).toBe(200);
    await archive.putBuffer('c', Buffer.alloc(100, 3), 'video/mp4');
    expect(archive.has('a')).toBe(false);
    expect(archive.has('b') && archive.has('c')).toBe(true);
    expect(archive.bytes).toBe(200);
    // Larger than the whole bound: not kept, nothing evicted for it.
    await archive.putBuffer('huge', Buffer.alloc(300), 'video/mp4');
    expect(archive.has('huge')).toBe(false);
    expect(archive.bytes).toBe(200);
    writeFileSync(join(dir, 'archive', '.tmp-interrupted'), 'x');
    const again = new MediaArchive(db, join(dir, 'archive'), 250);
    expect(again.bytes).toBe(200);
    expect(again.lookup('c')).toMatchObject({ bytes: 100, contentType: 'video/mp4' });
    expect(existsSync(join(dir, 'archive', '.tmp-interrupted'))).toBe(false);
    expect(readdirSync(join(dir, 'archive'))).toHaveLength(2);
    db.close();
  });
});
