import { readFileSync } from 'node:fs';
import { load } from 'cheerio';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalArticleUrl, parseMessageList } from '../src/feeds/mp/client.js';
import { parseArticlePage, proxyImages } from '../src/proxy/article.js';
import { mpState } from '../src/store/mp-accounts.js';
import { CallBudget } from '../src/upstream/budget.js';
import { UpstreamError } from '../src/upstream/errors.js';

const CDN = 'https://mmbiz.qpic.cn';
const page = (name: string) =>
  readFileSync(new URL(`./fixtures/mp/${name}.html`, import.meta.url), 'utf8')
    .replaceAll('{{CDN}}', CDN)
    .replaceAll('{{CDN_HOST}}', 'mmbiz.qpic.cn');
const URL_A = 'https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650000125&idx=1&sn=0123456789abcdef0123456789abcdef';

/** Every element and attribute of an HTML fragment, for checks a regex could miss. */
function elements(html: string) {
  const $ = load(html, null, false);
  return $('*')
    .toArray()
    .map((el) => ({ tag: (el as { tagName: string }).tagName, attrs: (el as { attribs: Record<string, string> }).attribs }));
}

describe('article pages', () => {
  it('article: the whole #js_content, nested divs included, cleaned', async () => {
    const a = await parseArticlePage(page('article'), URL_A);
    expect(a.kind).toBe('article');
    expect(a.title).toBe('Rust 异步运行时的调度：从 work-stealing 说起');
    expect(a.author).toBe('陈工');
    expect(a.account).toBe('系统编程笔记');
    expect(a.published).toBe(1732431600000);
    expect(a.sourceUrl).toBe('https://example.org/blog/work-stealing');
    const b = a.body;
    // Nested content survives (the seed's regex stopped at the first </div>).
    for (const text of ['谁来跑', '嵌套的段落也必须留下来。', '第三层的段落。', '外层 div 的结尾。', '—— 完 ——', '隐藏的文字在阅读器里要显示。']) expect(b).toContain(text);
    const els = elements(b);
    expect(els.filter((e) => e.tag === 'script' || e.tag === 'style' || e.tag === 'link')).toEqual([]);
    for (const e of els) {
      for (const [name, value] of Object.entries(e.attrs)) {
        expect(name.startsWith('on'), `${e.tag} ${name}`).toBe(false);
        expect(name.startsWith('data-'), `${e.tag} ${name}`).toBe(false);
        if (name === 'style') expect(value).not.toMatch(/visibility\s*:\s*hidden|opacity\s*:\s*0/);
        if (name === 'href' || name === 'src') expect(value).toMatch(/^https:\/\//);
      }
    }
    const imgs = els.filter((e) => e.tag === 'img');
    // Lazy images made real; the 1x1 report pixel gone; protocol-relative made https.
    expect(imgs.map((i) => i.attrs.src)).toEqual([`${CDN}/mmbiz_png/body-1/640?wx_fmt=png&from=appmsg`, `${CDN}/mmbiz_jpg/body-2/640?wx_fmt=jpeg`, 'https://mmbiz.qpic.cn/mmbiz_gif/relgif/640?wx_fmt=gif']);
    expect(imgs.every((i) => i.attrs.referrerpolicy === 'no-referrer')).toBe(true);
    expect(imgs[1]!.attrs.alt).toBe('队列示意');
    // Links: relative made absolute, javascript: dropped.
    const hrefs = els.filter((e) => e.tag === 'a').map((e) => e.attrs.href);
    expect(hrefs).toContain('https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650000001&idx=1&sn=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(b).toContain('坏链接');
    expect(hrefs.some((h) => h?.startsWith('javascript'))).toBe(false);
    // Audio and video usable outside WeChat; foreign iframes gone.
    const audio = els.find((e) => e.tag === 'audio')!;
    expect(audio.attrs.src).toBe('https://res.wx.qq.com/voice/getvoice?mediaid=MzA3MDM3NjE5NV8yNjUwMDAwMDAy');
    expect(b).toContain('作者讲解');
    expect(hrefs).toContain('https://v.qq.com/x/page/x3319abcdef.html');
    expect(els.some((e) => e.tag === 'iframe')).toBe(false);
    expect(b).not.toContain('evil.example');
    // Code keeps its lines, loses the line-number list; tables stay.
    const $ = load(b, null, false);
    expect($('pre').text()).toBe('let rt = Runtime::new()?;\nrt.block_on(main_loop());');
    expect($('table td').first().text()).toBe('work-stealing');
  });

  it('picture post: every picture and its caption, JS escapes decoded', async () => {
    const a = await parseArticlePage(page('pictures'), URL_A);
    expect(a.kind).toBe('pictures');
    const $ = load(a.body, null, false);
    expect($('img').map((_, i) => $(i).attr('src')).get()).toEqual([`${CDN}/mmbiz_jpg/pic-1/0?wx_fmt=jpeg&from=appmsg`, `${CDN}/mmbiz_jpg/pic-2/0?wx_fmt=jpeg`, `${CDN}/mmbiz_jpg/pic-3/0?wx_fmt=jpeg`]);
    expect($('p').first().text()).toBe('湖边，雨后。');
    expect(a.published).toBe(1732518000000);
  });

  it('text-only post: the text, escaped', async () => {
    const a = await parseArticlePage(page('text'), URL_A);
    expect(a.kind).toBe('text');
    expect(a.body).toBe('<p>今天停更一天，明天见。</p><p>——编辑部 &lt;script&gt;</p>');
  });

  it('video post: cover, description and a link to watch it', async () => {
    const a = await parseArticlePage(page('video'), URL_A);
    expect(a.kind).toBe('video');
    expect(a.body).toContain(`<img src="${CDN}/mmbiz_jpg/video-cover/0?wx_fmt=jpeg"`);
    expect(a.body).toContain('一段演示视频。');
    expect(a.body).toContain(`href="${URL_A.replace(/&/g, '&amp;')}"`);
  });

  it('deleted and verification pages are recognised, never taken as a body', async () => {
    const d = await parseArticlePage(page('deleted'), URL_A);
    expect(d.kind).toBe('deleted');
    expect(d.body).toBe('');
    const c = await parseArticlePage(page('captcha'), URL_A);
    expect(c.kind).toBe('blocked');
    expect(c.body).toBe('');
    expect(c.reason).toMatch(/environment abnormal/);
    const u = await parseArticlePage('<html><body><p>hello</p></body></html>', URL_A);
    expect(u.kind).toBe('unknown');
  });

  it('fuzz: whatever #js_content holds, the cleaned body runs no script and hides nothing', async () => {
    const pieces = fc.constantFrom(
      '<script>alert(1)</script>',
      '<img src=x onerror="alert(1)">',
      '<img data-src="https://mmbiz.qpic.cn/a/0" onload=x>',
      '<a href="javascript:alert(1)">x</a>',
      '<div style="visibility:hidden;opacity:0">t</div>',
      '<div><div><p>deep</p></div></div>',
      '<iframe src="https://evil.example"></iframe>',
      '<svg onload=alert(1)><circle/></svg>',
      '<style>body{display:none}</style>',
      '<p onclick="x()">p</p>',
      '<section><span style="OPACITY: 0 !important">s</span></section>',
      '<form action="https://evil.example"><input name=a></form>',
      '</div><script>late()</script>',
      '<!-- <script>c</script> -->',
      '<object data="x"></object><embed src="y">',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(pieces, fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 12 }), async (parts) => {
        const html = `<html><body><div id="js_content" style="visibility: hidden; opacity: 0">x${parts.join('')}</div></body></html>`;
        const a = await parseArticlePage(html, URL_A);
        for (const e of elements(a.body)) {
          expect(['script', 'style', 'iframe', 'form', 'input', 'object', 'embed']).not.toContain(e.tag);
          for (const [name, value] of Object.entries(e.attrs)) {
            expect(name.toLowerCase().startsWith('on')).toBe(false);
            if (name === 'href' || name === 'src') expect(value).toMatch(/^https?:\/\//);
            if (name === 'style') expect(value).not.toMatch(/visibility\s*:\s*hidden|opacity\s*:\s*0/i);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('proxyImages points every image at the given link maker and leaves the rest alone', async () => {
    const out = await proxyImages('<p>a &amp; b</p><img src="https://mmbiz.qpic.cn/x/0?a=1&amp;b=2" alt="">', (u) => `/proxy?url=${encodeURIComponent(u)}`);
    expect(out).toBe('<p>a &amp; b</p><img src="/proxy?url=https%3A%2F%2Fmmbiz.qpic.cn%2Fx%2F0%3Fa%3D1%26b%3D2" alt="">');
  });
});

describe('canonical article URLs', () => {
  const canon = 'https://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&mid=2650000125&idx=2&sn=abc123';
  it.each([
    ['http://mp.weixin.qq.com/s?__biz=MzA3MDM3NjE5NQ==&amp;mid=2650000125&amp;idx=2&amp;sn=abc123&amp;chksm=ea1b&amp;scene=27#wechat_redirect', canon],
    ['https://mp.weixin.qq.com/s?sn=abc123&idx=2&mid=2650000125&__biz=MzA3MDM3NjE5NQ%3D%3D&pass_ticket=SECRET', canon],
    ['/s?__biz=MzA3MDM3NjE5NQ==\\x26mid=2650000125\\x26idx=2\\x26sn=abc123', canon],
    ['https://mp.weixin.qq.com/mp/appmsg/show?__biz=MzA3MDM3NjE5NQ==&appmsgid=2650000125&itemidx=2&sign=abc123', canon],
    ['https://mp.weixin.qq.com/s/AbCdEf-123_xyz?from=timeline', 'https://mp.weixin.qq.com/s/AbCdEf-123_xyz'],
  ])('%s', (raw, expected) => {
    expect(canonicalArticleUrl(raw)).toBe(expected);
  });
  it.each(['https://evil.example/s?__biz=a&mid=1&idx=1&sn=b', 'https://mp.weixin.qq.com/mp/profile_ext?action=home&__biz=x', 'https://mp.weixin.qq.com/s?__biz=x&mid=1&idx=1', 'not a url at all ::', ''])('not an article: %s', (raw) => {
    expect(canonicalArticleUrl(raw)).toBeUndefined();
  });
  it('is idempotent and never keeps anything but the four parameters', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9+/]{8,20}={0,2}$/), fc.nat(), fc.integer({ min: 1, max: 8 }), fc.stringMatching(/^[0-9a-f]{8,32}$/), fc.dictionary(fc.stringMatching(/^[a-z_]{1,10}$/), fc.string({ maxLength: 10 })), (biz, mid, idx, sn, extra) => {
        const u = new URL('http://mp.weixin.qq.com/s');
        for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
        u.searchParams.set('__biz', biz);
        u.searchParams.set('mid', String(mid));
        u.searchParams.set('idx', String(idx));
        u.searchParams.set('sn', sn);
        const c = canonicalArticleUrl(u.href)!;
        expect(c).toBe(`https://mp.weixin.qq.com/s?__biz=${encodeURIComponent(biz).replace(/%3D/g, '=')}&mid=${mid}&idx=${idx}&sn=${sn}`);
        expect(new URL(c).searchParams.get('__biz')).toBe(biz);
        expect(canonicalArticleUrl(c)).toBe(c);
      }),
    );
  });
});

describe('message lists', () => {
  const content = (mid: number, idx: number) => `http://mp.weixin.qq.com/s?__biz=B1Z2==&amp;mid=${mid}&amp;idx=${idx}&amp;sn=ff${idx}&amp;chksm=1#wechat_redirect`;
  const list = JSON.stringify({
    list: [
      {
        comm_msg_info: { id: 1, type: 49, datetime: 1732431600, fakeid: '1', status: 2, content: '' },
        app_msg_ext_info: {
          title: 'Lead &amp; co',
          digest: 'd',
          content_url: content(9, 1),
          cover: 'https://mmbiz.qpic.cn/c/0?wx_fmt=jpeg&amp;a=1',
          author: 'Lead Author',
          del_flag: 1,
          is_multi: 1,
          multi_app_msg_item_list: [
            { title: 'Sub, no author', digest: '', content_url: content(9, 2), cover: '', del_flag: 1, item_show_type: 8 },
            { title: 'Deleted', digest: '', content_url: content(9, 3), cover: '', del_flag: 4 },
            { title: 'No link', digest: '', content_url: '', cover: '' },
          ],
        },
      },
      { comm_msg_info: { id: 2, type: 1, datetime: 1732431000, content: 'a text message' } },
      { comm_msg_info: { id: 3, type: 49, datetime: 1732430000 }, app_msg_ext_info: { title: 'Older', content_url: content(8, 1), item_show_type: 0 } },
    ],
  });

  it('every article of every article push, deleted and linkless ones skipped, author falling back to the lead', () => {
    const a = parseMessageList(list, 'B1Z2==');
    expect(a.map((x) => [x.url, x.idx, x.pushedAt, x.meta.title, x.meta.author])).toEqual([
      ['https://mp.weixin.qq.com/s?__biz=B1Z2==&mid=9&idx=1&sn=ff1', 1, 1732431600000, 'Lead & co', 'Lead Author'],
      ['https://mp.weixin.qq.com/s?__biz=B1Z2==&mid=9&idx=2&sn=ff2', 2, 1732431600000, 'Sub, no author', 'Lead Author'],
      ['https://mp.weixin.qq.com/s?__biz=B1Z2==&mid=8&idx=1&sn=ff1', 1, 1732430000000, 'Older', ''],
    ]);
    expect(a[0]!.meta.cover).toBe('https://mmbiz.qpic.cn/c/0?wx_fmt=jpeg&a=1');
    expect(a[1]!.meta.showType).toBe(8);
  });

  it('keeps 64-bit numbers exact and tolerates missing fields', () => {
    const big = '{"list":[{"comm_msg_info":{"id":18446744073709551615,"type":49,"datetime":1732431600},"app_msg_ext_info":{"content_url":"https://mp.weixin.qq.com/s?__biz=QQ==&mid=1&idx=1&sn=ab","fileid":18446744073709551615}}]}';
    const a = parseMessageList(big, 'QQ==');
    expect(a).toHaveLength(1);
    expect(a[0]!.meta).toEqual({ title: '', digest: '', author: '', cover: '', sourceUrl: '', showType: 0 });
    expect(parseMessageList('{}', 'QQ==')).toEqual([]);
    expect(parseMessageList('{"list":[null,1,"x",{"comm_msg_info":null}]}', 'QQ==')).toEqual([]);
  });
});

describe('credential state', () => {
  const base = { biz: 'B', nickname: '', avatarUrl: '', createdAt: 0, updatedAt: 1_000_000, lastError: '' };
  it('effective, then expired by age, by ret=-3, limited while backing off', () => {
    expect(mpState(base, 1_000_000 + 59_000, 60_000)).toEqual({ state: 'effective', since: 1_000_000 });
    expect(mpState(base, 1_000_000 + 60_000, 60_000)).toEqual({ state: 'expired', since: 1_060_000 });
    expect(mpState({ ...base, rejectedAt: 1_010_000 }, 1_020_000, 60_000)).toEqual({ state: 'expired', since: 1_010_000 });
    expect(mpState({ ...base, limitedAt: 1_010_000, limitedUntil: 2_000_000 }, 1_020_000, 60_000)).toEqual({ state: 'limited', since: 1_010_000 });
    expect(mpState({ ...base, limitedAt: 1_010_000, limitedUntil: 1_015_000 }, 1_020_000, 60_000).state).toBe('effective');
  });
});

describe('call budget', () => {
  it('spaces calls evenly with bounded jitter, and refuses rather than queue for minutes', async () => {
    let now = 0;
    const budget = new CallBudget({ name: 'test', perMinute: 60, setting: 'X', now: () => now, random: () => 1 });
    const t0 = performance.now();
    await budget.take(); // slot at 0; next at 1250 (1000 ms + 25% jitter)
    now = 1250;
    await budget.take(); // on time: no wait
    expect(performance.now() - t0).toBeLessThan(200);
    now = 1250 + 1000; // 250 ms early for the next slot (2500)
    const t1 = performance.now();
    await budget.take();
    expect(performance.now() - t1).toBeGreaterThanOrEqual(240);
    for (let i = 0; i < 95; i++) {
      try {
        await budget.take(AbortSignal.abort());
      } catch {
        // aborted waits still use their slot
      }
    }
    const err = await budget.take().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).status).toBe(429);
    expect((err as UpstreamError).message).toContain('X');
    expect(Number((err as UpstreamError).headers['Retry-After'])).toBeGreaterThan(100);
  });
});
