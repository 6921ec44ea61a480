import { duration, bool, httpUrl, int, oneOf, section, type SettingsOf, size, text } from '../../config.js';

/** WeChat Moments: the settings this source reads. */
export const MOMENTS_SETTINGS = section({
  title: 'WeChat Moments',
  detail: '(朋友圈)',
  check: (c) => (c.MOMENTS_PROVIDER === 'ecloud' && !c.ECLOUD_API_URL ? ['ECLOUD_API_URL: is required when MOMENTS_PROVIDER is ecloud'] : []),
  settings: {
    MOMENTS_PROVIDER: {
      parse: oneOf(['weflow', 'ecloud']),
      default: 'weflow',
      help: "Where Moments come from: weflow (WeFlow's local HTTP API) or ecloud (the E云 API; uses the ECLOUD_* settings above).",
      env: "weflow or ecloud (ecloud uses the ECLOUD_* settings)",
    },
    WEFLOW_API_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'http://127.0.0.1:5031',
      help: "WeFlow's API (its \"API 服务\" setting). It sees only the Moments desktop WeChat has already loaded.",
    },
    WEFLOW_TOKEN: {
      parse: text,
      default: '',
      help: "The access token set in WeFlow (sent as \"Authorization: Bearer\"). WeFlow refuses every call without one.",
      env: "The access token configured in WeFlow",
      secret: true,
    },
    MOMENTS_PAGE_SIZE: {
      parse: int(1, 200),
      default: 20,
      help: "Posts asked of WeFlow per call.",
    },
    MOMENTS_MAX_PAGES: {
      parse: int(1, 50),
      default: 5,
      help: "Most pages a feed may walk with ?pages=N.",
    },
    MOMENTS_ARCHIVE: {
      parse: bool,
      default: true,
      help: "Keep each post's decrypted pictures (and videos up to MOMENTS_ARCHIVE_VIDEO_MAX_BYTES) in DATA_DIR/archive when it is first seen, so they stay viewable after WeChat's links expire or the author deletes the post.",
      env: "Keep decrypted pictures and videos when a post is first seen (DATA_DIR/archive, or ARCHIVE_S3_URL)",
    },
    MOMENTS_ARCHIVE_MAX_BYTES: {
      parse: size,
      default: '2GB',
      help: "Bound of DATA_DIR/archive; the oldest files leave first.",
    },
    MOMENTS_ARCHIVE_VIDEO_MAX_BYTES: {
      parse: size,
      default: '64MB',
      help: "Videos larger than this are not kept (they still play while their link lives).",
    },
    MOMENTS_ARCHIVE_CONCURRENCY: {
      parse: int(1, 32),
      default: 2,
      help: "Files fetched at once for the archive (the CDN dislikes bulk downloads; keep it small).",
    },
    REFRESH_MOMENTS: {
      parse: duration,
      default: '15m',
      help: "How often feeds of Moments that people read are refreshed in the background (it adapts: longer while nothing new comes, up to REFRESH_MAX). 0: only when a reader asks.",
    },
  },
});

declare module '../descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof MOMENTS_SETTINGS> {}
}
