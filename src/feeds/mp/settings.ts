import { z } from 'zod';
import { duration, httpUrl, int, section, type SettingsOf, text } from '../../config.js';

/** WeChat Official Accounts: the settings this source reads. */
export const MP_SETTINGS = section({
  title: 'WeChat Official Accounts',
  detail: '(公众号)',
  settings: {
    MP_BASE_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'https://mp.weixin.qq.com',
      help: "Where message lists and article pages are fetched from (a test server may stand in).",
    },
    MP_REFRESH_TOKEN: {
      parse: text,
      default: '',
      help: "When set, POST /api/mp/refresh needs ?token=<MP_REFRESH_TOKEN> (and then not ACCESS_TOKEN): set the downloader's remote-server token to the same value. Empty: the route needs ACCESS_TOKEN like any other.",
      env: "The downloader's remote-server token; when set, /api/mp/refresh needs it instead of ACCESS_TOKEN",
      secret: true,
    },
    MP_CREDENTIAL_TTL: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '30m',
      help: "Pushed credentials count as expired this long after they arrived (WeChat's own lifetime is about 30 min).",
    },
    MP_CALLS_PER_MINUTE: {
      parse: int(1, 600),
      default: 6,
      help: "Message-list calls to WeChat per minute, across all accounts (spaced evenly, with jitter). WeChat risk-controls accounts that poll too much; see \"Safe polling\" under \"WeChat Official Accounts\" in the README.",
      env: "Message-list calls per minute across all accounts; keep it low (see the README)",
    },
    MP_LIMITED_BACKOFF: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '2h',
      help: "How long an account is left alone after WeChat answers ret=-6 (limited); its feed serves what it has.",
    },
    MP_MAX_PAGES: {
      parse: int(1, 20),
      default: 5,
      help: "Most message-list pages a feed may walk with ?pages=N (10 pushes each).",
    },
    MP_FETCH_CONCURRENCY: {
      parse: int(1, 32),
      default: 4,
      help: "Article pages fetched at once for full text (?content=1).",
    },
    MP_ARTICLE_TTL: {
      parse: duration,
      default: 0,
      help: "How long a kept article text is trusted before it is fetched again; 0 keeps it for ever (an article's text does not change, and one WeChat deletes later stays readable in the feed).",
      env: "0 keeps article texts for ever",
    },
    MP_EXPIRY_WARNING: {
      parse: duration,
      default: '10m',
      help: "How long before pushed credentials expire (MP_CREDENTIAL_TTL after the push) to alert that they are about to (0: no warning, only when they have).",
    },
    REFRESH_MP: {
      parse: duration,
      default: '1h',
      help: "How often feeds of Official Account message lists (cautious: WeChat limits accounts that are read in bursts) that people read are refreshed in the background (it adapts: longer while nothing new comes, up to REFRESH_MAX). 0: only when a reader asks.",
    },
  },
});

declare module '../descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof MP_SETTINGS> {}
}
