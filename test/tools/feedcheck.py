#!/usr/bin/python3
"""Parse a feed with Debian's python3-feedparser and print what a reader would see, as JSON.

Usage: feedcheck.py URL   (or the feed bytes on stdin with "-")
The vitest suites call this to check bozo == 0 and that fields survive a round trip.
"""
import json
import sys
import time

import feedparser


def when(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', t) if t else None


src = sys.argv[1]
d = feedparser.parse(sys.stdin.buffer.read() if src == '-' else src)
out = {
    'bozo': d.bozo,
    'bozo_exception': str(d.get('bozo_exception', '')) or None,
    'version': d.version,
    'namespaces': dict(d.namespaces),
    'feed': {
        'title': d.feed.get('title'),
        'link': d.feed.get('link'),
        'id': d.feed.get('id'),
        'updated': when(d.feed.get('updated_parsed')),
        'links': [{k: l.get(k) for k in ('rel', 'href', 'type')} for l in d.feed.get('links', [])],
        'ttl': d.feed.get('ttl'),
    },
    'entries': [
        {
            'id': e.get('id'),
            'title': e.get('title'),
            'title_type': e.get('title_detail', {}).get('type'),
            'link': e.get('link'),
            'published': when(e.get('published_parsed')),
            'updated': when(e.get('updated_parsed')),
            'published_raw': e.get('published'),
            'author': e.get('author'),
            'authors': [a.get('name') for a in e.get('authors', [])],
            'tags': [t.get('term') for t in e.get('tags', [])],
            'summary': e.get('summary'),
            'content': [c.get('value') for c in e.get('content', [])],
            'enclosures': [{'href': x.get('href'), 'type': x.get('type'), 'length': x.get('length')} for x in e.get('enclosures', [])],
            'media_content': [dict(m) for m in e.get('media_content', [])],
            'media_thumbnail': [dict(m) for m in e.get('media_thumbnail', [])],
        }
        for e in d.entries
    ],
}
json.dump(out, sys.stdout, ensure_ascii=False)
