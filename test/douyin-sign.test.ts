import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aBogus, fakeMsToken, fingerprint, verifyFp, xBogus } from '../src/feeds/douyin/sign.js';

// Inputs and expected values from notes/douyin.md §10 (cross-checked there against f2).
const UA_EDGE130 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0';
const UA_CHROME123 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36';
const Q1 = 'device_platform=webapp&aid=6383&channel=channel_pc_web&sec_user_id=MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop&max_cursor=0&count=20';
const Q2 = 'device_platform=webapp&aid=6383&channel=channel_pc_web&aweme_id=7400000000000000001';
const Q3 =
  'device_platform=webapp&aid=6383&channel=channel_pc_web&pc_client_type=1&version_code=290100&version_name=29.1.0&cookie_enabled=true&screen_width=1920&screen_height=1080&browser_language=zh-CN&browser_platform=Win32&browser_name=Edge&browser_version=130.0.0.0&browser_online=true&engine_name=Blink&engine_version=130.0.0.0&os_name=Windows&os_version=10&cpu_core_num=12&device_memory=8&platform=PC&downlink=10&effective_type=4g&round_trip_time=100&sec_user_id=MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop';
const FP1 = '1536|747|1563|830|0|30|0|0|1600|900|1536|824|1536|747|24|24|Win32';
const FP2 = '1920|969|1944|1054|0|0|0|0|1920|1080|1920|1040|1920|969|24|24|MacIntel';
const BODY6 = 'aweme_type=0&item_id=7400000000000000001&play_delta=1&source=0';

describe('SM3 (Node OpenSSL) known answers', () => {
  it('"abc" and "abcd" x 16', () => {
    expect(createHash('sm3').update('abc').digest('hex')).toBe('66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
    expect(createHash('sm3').update('abcd'.repeat(16)).digest('hex')).toBe('debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732');
  });
});

describe('X-Bogus', () => {
  it.each([
    ['XB1', Q1, UA_EDGE130, 1735689600, 'DFSzswVYTtvANJXJt8kkae9WX7n2'],
    ['XB2', Q2, UA_CHROME123, 1700000000, 'DFSzswVYJ8zANnTJtmWx-e9WX7jB'],
    ['XB3', Q3, UA_EDGE130, 1750000000, 'DFSzswVYP70ANJXJCeYbae9WX7j9'],
    ['XB6', Q1, UA_EDGE130, 1735689601, 'DFSzswVYTtvANJXJt8kkaF9WX7nR'],
  ])('%s', (_id, q, ua, ts, expected) => {
    expect(xBogus(q, ua, ts)).toBe(expected);
  });
});

describe('a_bogus', () => {
  it.each([
    ['AB1', Q1, '', UA_EDGE130, FP1, 1735689600123, 1735689600125, [1234, 5678, 9999], 'E7mhBdu2krjBknWz54KLfY3q6X33YQi50SVkMD2fnnfPxL39HMTa9exoxZsvfFbjxs/gIeYjy4hbT3ohrQ2y8qwf9W4i/25gmDSkKl12so0j53inC6WmE0wN-hsAtFH8svrUiKi8owVtSYyhldAJ5kIlO62-zo0/9fE='],
    ['AB2', Q2, '', UA_CHROME123, FP1, 1700000000000, 1700000000003, [0, 1, 2], 'DfmhQDgpkVEpDE6Y56KLfY3q6v13YgcI0SVkMD2fGVVWqL39HMYD9exoIBGvXYDjwG/-IeYjy4hbT3ohrQ2y8qwf9W4i/25gmDSkKl12so0j53inC6WmE0wN-hsAtFH8svrUiKi8owVtSYyhldAJ5kIlO62-zo0/938='],
    ['AB3', Q3, '', UA_EDGE130, FP2, 1750000000456, 1750000000460, [4321, 8765, 135], 'Y68h/dL1snxpkj6Y5ldLfY3q6RF3YQi30SVkMD2fPxfPQy39HMPm9exobHzvbySjxG/ZIeyjy4hbO3xprQC9MZwf7Wvo/2CZs6U0t-P2so0j53intL6mE0hN4kb3SFlm5XNAEOk0y75nFmT0Wo9cmhK4bfebYyDWxp6Fa31obE=='],
    ['AB6', Q2, BODY6, UA_EDGE130, FP1, 1735689600123, 1735689600125, [1234, 5678, 9999], 'E7mhBdu2krjBknWz54KLfY3q6vXMYQi50SVkMD2fG-EPxL39HMTa9exoxZsvfFbjxs/gIeYjy4hbT3ohrQ2y8qwf9W4i/25gmDSkKl12so0j53inC6WmE0wN-hsAtFH8svrUiKi8owVtSYyhldAJ5kIlO62-zo0/9IW='],
  ] as const)('%s', (_id, query, body, userAgent, fp, startMs, endMs, random, expected) => {
    const ab = aBogus({ query, body, userAgent, fingerprint: fp, startMs, endMs, random: [...random] as [number, number, number] });
    expect(ab).toBe(expected);
    expect(ab.length).toBe(4 * Math.ceil((57 + fp.length) / 3));
  });
});

describe('guest tokens and fingerprints', () => {
  it('shapes the notes give', () => {
    expect(fakeMsToken()).toMatch(/^[A-Za-z0-9+-]{182}==$/);
    const v = verifyFp(1735689600123);
    expect(v).toMatch(/^verify_[0-9a-z]+_[0-9A-Za-z]{8}_[0-9A-Za-z]{4}_4[0-9A-Za-z]{3}_[89AB][0-9A-Za-z]{3}_[0-9A-Za-z]{12}$/);
    expect(v.split('_')[1]).toBe((1735689600123).toString(36));
    for (let i = 0; i < 50; i++) {
      const fp = fingerprint('Win32');
      const n = fp.split('|');
      expect(n).toHaveLength(17);
      expect(Number(n[2]) - Number(n[0])).toBeGreaterThanOrEqual(24);
      expect(fp.length).toBeGreaterThanOrEqual(60);
    }
  });
});
