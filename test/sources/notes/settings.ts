import { httpUrl, int, section, text } from '../../../src/config.js';

/** A test-only source's settings: declared here, composed by the app like any source's. */
export const NOTES_SETTINGS = section({
  title: 'Notes (a test-only source)',
  settings: {
    NOTES_API_URL: {
      parse: httpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: 'http://127.0.0.1:9',
      help: 'Where the notes board answers.',
      env: 'The notes board, e.g. http://127.0.0.1:4000',
    },
    NOTES_TOKEN: {
      parse: text,
      default: '',
      help: 'Sent to the board as X-Notes-Token.',
      secret: true,
    },
    NOTES_MAX_ITEMS: {
      parse: int(1, 100),
      default: 20,
      help: 'Items per feed at most.',
    },
  },
});
