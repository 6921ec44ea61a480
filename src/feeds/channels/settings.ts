import { z } from 'zod';
import { duration, httpUrl, int, oneOf, section, type SettingsOf } from '../../config.js';

/** WeChat Channels: the settings this source reads. */
export const CHANNELS_SETTINGS = section({
  title: 'WeChat Channels',
  check: (c) => (c.CHANNELS_PROVIDER === 'ecloud' && !c.ECLOUD_API_URL ? ['ECLOUD_API_URL: is required when CHANNELS_PROVIDER is ecloud'] : []),
  settings: {
    CHANNELS_PROVIDER: {
      parse: oneOf(['wxcd', 'ecloud']),
      default: 'wxcd',
      help: "Where Channels feeds come from: wxcd (the Channels downloader's local API) or ecloud (the E云 API).",
    },
    WXCD_API_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'http://127.0.0.1:2022',
      help: "The downloader's API. It answers only while a Channels page is open in desktop WeChat.",
    },
    CHANNELS_MAX_PAGES: {
      parse: int(1, 20),
      default: 5,
      help: "Most pages a feed may follow with ?pages=N.",
    },
    CHANNELS_PLAY_TTL: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '5m',
      help: "How long a resolved video URL (current token and decodeKey) is reused by /play/channels.",
    },
    REFRESH_CHANNELS: {
      parse: duration,
      default: '15m',
      help: "How often feeds of Channels that people read are refreshed in the background (it adapts: longer while nothing new comes, up to REFRESH_MAX). 0: only when a reader asks.",
    },
  },
});

declare module '../descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof CHANNELS_SETTINGS> {}
}
