import { optionalHttpUrl, section, type SettingsOf, text } from '../config.js';

/** E云: what Channels and Moments read when their provider is ecloud (both list this section). */
export const ECLOUD_SETTINGS = section({
  title: 'E云',
  detail: '(WeChat Channels and Moments through E云)',
  settings: {
    ECLOUD_API_URL: {
      parse: optionalHttpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: '',
      help: "E云: your instance's base URL (required when CHANNELS_PROVIDER or MOMENTS_PROVIDER is ecloud).",
    },
    ECLOUD_AUTH: {
      parse: text,
      default: '',
      help: "E云: the Authorization value its login call returned.",
      secret: true,
    },
    ECLOUD_WID: {
      parse: text,
      default: '',
      help: "E云: the instance id (wId); it changes at every re-login.",
    },
  },
});

declare module './descriptor.js' {
  interface SourceConfig extends SettingsOf<typeof ECLOUD_SETTINGS> {}
}
