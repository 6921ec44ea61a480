import { duration, bool, httpUrl, section, type SettingsOf, text } from '../../config.js';

/** HDHive OpenAPI: the settings this source reads. */
export const HDHIVE_SETTINGS = section({
  title: 'HDHive OpenAPI',
  settings: {
    HDHIVE_API_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'https://hdhive.com',
      help: "Base URL of HDHive. Links in feeds point at this host's resource pages.",
    },
    HDHIVE_API_KEY: {
      parse: text,
      default: '',
      help: "Personal API key or OpenAPI app secret (sent as X-API-Key). Required for the HDHive feeds.",
      secret: true,
    },
    HDHIVE_ACCESS_TOKEN: {
      parse: text,
      default: '',
      help: "User access token (sent as \"Authorization: Bearer\"). Required for /feeds/hdhive/shares.",
      secret: true,
    },
    HDHIVE_HIDE_INVALID: {
      parse: bool,
      default: false,
      help: "Leave out resources HDHive has marked invalid (validate_status = invalid).",
    },
    REFRESH_HDHIVE: {
      parse: duration,
      default: '30m',
      help: "How often feeds of HDHive that people read are refreshed in the background (it adapts: longer while nothing new comes, up to REFRESH_MAX; within half of the daily quota HDHive states, and not at all while less than a tenth of it is left). 0: only when a reader asks.",
    },
  },
});

declare module '../descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof HDHIVE_SETTINGS> {}
}
