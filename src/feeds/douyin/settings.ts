import { z } from 'zod';
import { duration, httpUrl, int, nonEmpty, oneOf, section, type SettingsOf, text } from '../../config.js';

/** Douyin: the settings this source reads. */
export const DOUYIN_SETTINGS = section({
  title: 'Douyin',
  detail: '(抖音)',
  settings: {
    DOUYIN_BASE_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'https://www.douyin.com',
      help: "The web API's base (a test server may stand in).",
    },
    DOUYIN_COOKIE: {
      parse: text,
      default: '',
      help: "The cookie of a logged-in browser session on www.douyin.com (copy the whole Cookie header). Never logged. Empty: guest mode (ttwid, msToken, s_v_web_id made here), which Douyin often refuses.",
      env: "The whole Cookie header of a logged-in browser session on www.douyin.com (empty: guest mode)",
      secret: true,
    },
    DOUYIN_USER_AGENT: {
      parse: nonEmpty.refine((v) => /Mozilla\/5\.0/.test(v) && /^[\x20-\x7e]+$/.test(v), 'expected a browser user agent (Mozilla/5.0 …, ASCII)'),
      default: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0',
      help: "The browser feedgate presents; the browser_* and os_* parameters are derived from it so they agree.",
    },
    DOUYIN_SIGNER: {
      parse: oneOf(['ab', 'xb']),
      default: 'ab',
      help: "Signature: ab (a_bogus, what the web app sends today) or xb (X-Bogus, older endpoints).",
      env: "ab (a_bogus) or xb (X-Bogus)",
    },
    DOUYIN_TTWID_URL: {
      parse: httpUrl,
      default: 'https://ttwid.bytedance.com/ttwid/union/register/',
      help: "Guest mode registers a ttwid cookie here.",
    },
    DOUYIN_CALLS_PER_MINUTE: {
      parse: int(1, 600),
      default: 10,
      help: "Web-API calls per minute, across all users (spaced evenly, with jitter).",
    },
    DOUYIN_MAX_PAGES: {
      parse: int(1, 20),
      default: 5,
      help: "Most pages (18 posts each) a feed may walk with ?pages=N.",
    },
    DOUYIN_PLAY_TTL: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '5m',
      help: "How long a resolved video URL is reused by /play/douyin before the detail endpoint is asked again.",
    },
    DOUYIN_BLOCK_BACKOFF: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '10m',
      help: "After a block (empty body, captcha, 403, 429) that user is left alone this long; the feed serves its last copy.",
    },
    REFRESH_DOUYIN: {
      parse: duration,
      default: '1h',
      help: "How often feeds of Douyin (cautious: Douyin blocks on bursts, not on volume) that people read are refreshed in the background (it adapts: longer while nothing new comes, up to REFRESH_MAX). 0: only when a reader asks.",
    },
  },
});

declare module '../descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof DOUYIN_SETTINGS> {}
}
