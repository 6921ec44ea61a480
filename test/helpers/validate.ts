import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

const SCRIPT = fileURLToPath(new URL('../tools/feedcheck.py', import.meta.url));
// Debian's interpreter: python3-feedparser is installed for it, not for whatever python3 is first on PATH.
const PYTHON = process.env.FEEDCHECK_PYTHON ?? '/usr/bin/python3';

export interface Parsed {
  bozo: number | boolean;
  bozo_exception: string | null;
  version: string;
  namespaces: Record<string, string>;
  feed: { title: string; link: string; id: string; updated: string | null; links: Array<{ rel: string; href: string; type: string }>; ttl?: string };
  entries: Array<{
    id: string;
    title: string;
    /** How feedparser read the title: RSS leaves it open, so it guesses text/plain or text/html. */
    title_type: string;
    link: string;
    published: string | null;
    updated: string | null;
    published_raw: string | null;
    author: string | null;
    authors: string[];
    tags: string[];
    summary: string | null;
    content: string[];
    enclosures: Array<{ href: string; type: string; length: string }>;
    media_content: Array<Record<string, string>>;
    media_thumbnail: Array<Record<string, string>>;
  }>;
}

/** Runs Debian's python3-feedparser over a URL or over feed bytes. */
export function feedparser(input: { url: string } | { body: string }): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, [SCRIPT, 'url' in input ? input.url : '-'], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`feedcheck failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as Parsed);
    });
    if ('body' in input) child.stdin!.end(input.body);
    else child.stdin!.end();
  });
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../schemas/jsonfeed-1.1.schema.json', import.meta.url)), 'utf8'));
const validateJsonFeed = ajv.compile(schema);

/** Schema errors of a JSON Feed 1.1 document (empty when valid). */
export function jsonFeedErrors(doc: unknown): string[] {
  return validateJsonFeed(doc) ? [] : (validateJsonFeed.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
