import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../src/feeds/sources.js';
import { generated } from '../scripts/settings.js';

const read = (p: string) => readFileSync(fileURLToPath(new URL(`../${p}`, import.meta.url)), 'utf8');

describe('the documentation agrees with the code', () => {
  it('config/default.yaml has exactly the settings the code reads', () => {
    expect(Object.keys(parse(read('config/default.yaml'))).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('config/default.yaml, .env.example and the README settings table are the ones generated from the declarations (npm run settings -- --write)', () => {
    for (const [file, text] of Object.entries(generated(read('README.md')))) expect(read(file), file).toBe(text);
    for (const key of CONFIG_KEYS) expect(read('README.md')).toContain(`| \`${key}\` |`);
  });

  it('README.md and README.zh-CN.md: a quick start first, and the same troubleshooting codes, each one the code returns', () => {
    const src = execSync('grep -rhoE "\'[A-Z][A-Z0-9_]+\'" src', { cwd: fileURLToPath(new URL('..', import.meta.url)) }).toString();
    const codes = (md: string, heading: string) => {
      const part = md.slice(md.indexOf(heading));
      const table = part.slice(0, part.indexOf('\n\n', part.indexOf('| --- |')));
      return [...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z_]+)`/g)].map((c) => c[1]!));
    };
    const en = read('README.md');
    const zh = read('README.zh-CN.md');
    for (const md of [en, zh]) expect(md.indexOf('docker run -d --name feedgate')).toBeLessThan(2500);
    const enCodes = codes(en, '## Troubleshooting');
    expect(enCodes.length).toBeGreaterThan(20);
    expect(codes(zh, '## 故障排查')).toEqual(enCodes);
    for (const code of enCodes) expect(src, code).toContain(`'${code}'`);
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
