import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../src/config.js';
// @ts-expect-error plain JavaScript script, no types
import { END, START, settingsTable } from '../scripts/settings-table.mjs';

const read = (p: string) => readFileSync(fileURLToPath(new URL(`../${p}`, import.meta.url)), 'utf8');

describe('the documentation agrees with the code', () => {
  it('config/default.yaml has exactly the settings the code reads', () => {
    expect(Object.keys(parse(read('config/default.yaml'))).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('the README settings table is the one generated from config/default.yaml (node scripts/settings-table.mjs --write)', () => {
    const readme = read('README.md');
    const block = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim();
    expect(block).toBe(settingsTable());
    for (const key of CONFIG_KEYS) expect(block).toContain(`| \`${key}\` |`);
  });

  it('.env.example lists every setting; those that belong to the deployment (HOST, PORT, DATA_DIR) only as comments', () => {
    const env = read('.env.example');
    const owned = new Set(['HOST', 'PORT', 'DATA_DIR']);
    for (const key of CONFIG_KEYS) {
      if (owned.has(key)) {
        expect(env, key).toMatch(new RegExp(`^# ${key}=`, 'm'));
        expect(env, key).not.toMatch(new RegExp(`^${key}=`, 'm'));
      } else expect(env, key).toMatch(new RegExp(`^${key}=`, 'm'));
    }
  });
});
