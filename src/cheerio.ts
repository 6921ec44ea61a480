/**
 * cheerio, loaded on first use (most feeds never parse HTML, and it brings undici and parse5 along) and
 * kept: a dynamic import() per call goes through the module loader again each time.
 */
let loaded: Promise<typeof import('cheerio')> | undefined;
export const cheerio = (): Promise<typeof import('cheerio')> => (loaded ??= import('cheerio'));
