import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { CONFIG_KEYS, loadConfig } from '../src/feeds/sources.js';
import { openStore } from '../src/store/index.js';
import type { SqliteSql } from '../src/store/sqlite.js';
import { tempDir } from './helpers/app.js';

describe('config', () => {
  it('starts from config/default.yaml with no environment at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 8080,
      PUBLIC_URL: '',
      ACCESS_TOKEN: '',
      DATA_DIR: './data',
      LOG_LEVEL: 'info',
      CACHE_TTL: 300_000,
      CACHE_MAX_BYTES: 64 * 1024 * 1024,
      STALE_TTL: 86_400_000,
      HDHIVE_API_URL: 'https://hdhive.com',
      TRUST_PROXY: false,
    });
  });

  it('environment variables override, with units for durations and sizes', () => {
    const c = loadConfig({ PORT: '9000', CACHE_TTL: '10m', STALE_TTL: '3600', CACHE_MAX_BYTES: '16MB', UPSTREAM_TIMEOUT: '500ms', TRUST_PROXY: 'yes', PUBLIC_URL: 'https://x.example/feeds/' });
    expect(c.PORT).toBe(9000);
    expect(c.CACHE_TTL).toBe(600_000);
    expect(c.STALE_TTL).toBe(3_600_000);
    expect(c.CACHE_MAX_BYTES).toBe(16 * 1024 * 1024);
    expect(c.UPSTREAM_TIMEOUT).toBe(500);
    expect(c.TRUST_PROXY).toBe(true);
    expect(c.PUBLIC_URL).toBe('https://x.example/feeds');
  });

  it('CONFIG_FILE sits between the defaults and the environment', () => {
    const file = join(tempDir(), 'my.yaml');
    writeFileSync(file, 'PORT: 7000\nCACHE_TTL: 2m\n');
    const c = loadConfig({ CONFIG_FILE: file, CACHE_TTL: '30s' });
    expect(c.PORT).toBe(7000);
    expect(c.CACHE_TTL).toBe(30_000);
  });

  it('reports every bad value at once, by name', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', CACHE_TTL: 'soon', LOG_LEVEL: 'loud', HDHIVE_API_URL: 'ftp://x', CACHE_MAX_BYTES: '12 parsecs', TRUST_PROXY: 'perhaps' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const key of ['PORT', 'CACHE_TTL', 'LOG_LEVEL', 'HDHIVE_API_URL', 'CACHE_MAX_BYTES', 'TRUST_PROXY']) expect(problems).toContain(key);
  });

  it('an unknown key in CONFIG_FILE is an error, not silently ignored', () => {
    const file = join(tempDir(), 'typo.yaml');
    writeFileSync(file, 'CACHE_TTLL: 5m\n');
    expect(() => loadConfig({ CONFIG_FILE: file })).toThrow(/unknown setting CACHE_TTLL/);
  });
});

describe('config messages', () => {
  it('every bad setting gets a sentence naming the setting, the value and what is allowed', () => {
    let checked = 0;
    for (const key of CONFIG_KEYS) {
      for (const bad of ['%%bad%%', '-5']) {
        try {
          loadConfig({ [key]: bad });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          const line = (err as ConfigError).problems.find((p) => p.startsWith(`${key}:`));
          expect(line, `${key}=${bad}`).toBeDefined();
          expect(line).toContain(`"${bad}"`);
          expect(line).toMatch(/expected|must/);
          expect(line).not.toMatch(/NaN|received|Invalid input/);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('PORT=abc says what a port is', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow('PORT: expected a whole number from 0 to 65535, got "abc"');
  });
});

describe('SQLITE_CACHE_SIZE', () => {
  const cacheOf = async (env: Record<string, string>) => {
    const db = (await openStore(loadConfig({ DATA_DIR: tempDir(), ...env }))) as SqliteSql;
    try {
      return db.db.pragma('cache_size', { simple: true });
    } finally {
      await db.close();
    }
  };

  it("bounds SQLite's page cache (negative cache_size: KiB), 8MB unless set, not better-sqlite3's 16MB", async () => {
    expect(await cacheOf({})).toBe(-8192);
    expect(await cacheOf({ SQLITE_CACHE_SIZE: '4MB' })).toBe(-4096);
    expect(await cacheOf({ SQLITE_CACHE_SIZE: '300KB' })).toBe(-300);
  });

  it('a size below 256KB, or not a size, is a config error naming the setting', () => {
    expect(() => loadConfig({ SQLITE_CACHE_SIZE: '100KB' })).toThrow(/SQLITE_CACHE_SIZE: must be at least 256KB/);
    expect(() => loadConfig({ SQLITE_CACHE_SIZE: 'lots' })).toThrow(/SQLITE_CACHE_SIZE/);
  });
});
