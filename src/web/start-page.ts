import { escapeHtml as e } from '../http/html.js';
import type { SubscriptionForm } from '../feeds/descriptor.js';
import type { describeSource } from '../feeds/mount.js';
import { feedPath } from '../feeds/archive.js';

import type { MessageKey, Texts } from '../i18n/index.js';

type SourceView = ReturnType<typeof describeSource>;

/** A reader that subscribes to a URL given in its own address: `{url}` stands for the feed URL, percent-encoded. */
export interface ReaderLink {
  name: string;
  template: string;
}

/** Readers anyone can use from the web; READER_SUBSCRIBE_URL adds a self-hosted one. */
export const WEB_READERS: readonly ReaderLink[] = [
  { name: 'Inoreader', template: 'https://www.inoreader.com/?add_feed={url}' },
  { name: 'Feedly', template: 'https://feedly.com/i/subscription/feed/{url}' },
  { name: 'NewsBlur', template: 'https://www.newsblur.com/?url={url}' },
];

export interface StartPageView {
  /** null: show only the token prompt (a token is needed and none valid was given). */
  sources: SourceView[] | null;
  /** The token the page was opened with, carried into built URLs (never stored server-side). */
  token?: string;
  tokenRequired: boolean;
  /** A wrong token was given. */
  tokenRejected?: boolean;
  /** PODCAST_OWNER_EMAIL is empty: video feeds lack the owner e-mail podcast directories ask for. */
  ownerEmailMissing?: boolean;
  nonce: string;
  /** The page's language (chosen per request) and time zone. */
  tx: Texts;
  /** Readers offered once a URL is built, besides the feed: link. */
  readers: readonly ReaderLink[];
  /** The archive is on (ARCHIVE_MAX_ITEMS > 0): each feed kept fresh offers its export. */
  archive?: boolean;
  /** A URL built on the server, for a browser without JavaScript: the form's id, and the URL or what is missing. */
  built?: { form: string; values: Record<string, string>; url?: string; error?: string };
}

const CSS = `
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1f2328;--muted:#5f6874;--line:#d8dee4;--accent:#0b69d6;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--accent:#4493f8;--ok:#3fb950;--warn:#d29922;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif}
header,main,footer{max-width:960px;margin:0 auto;padding:16px}header h1{margin:0;font-size:1.6em}header p{margin:.2em 0;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px;margin:0 0 16px}
.card h2{margin:0 0 .2em;font-size:1.2em;display:flex;gap:.5em;align-items:center;flex-wrap:wrap}
.badge{font-size:.72em;font-weight:600;border-radius:99px;padding:.1em .6em;border:1px solid currentColor}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.muted{color:var(--muted)}
form{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin-top:10px}
label{display:flex;flex-direction:column;font-size:.85em;color:var(--muted);gap:3px}
input,select,button{font:inherit;padding:7px 9px;border-radius:7px;border:1px solid var(--line);background:var(--bg);color:var(--fg);min-width:0}
button{background:var(--accent);border-color:var(--accent);color:#fff;cursor:pointer}button.secondary{background:transparent;color:var(--accent)}
.row{grid-column:1/-1;display:flex;gap:8px;flex-wrap:wrap;align-items:center}
.out{grid-column:1/-1;display:none;gap:8px}.out.shown{display:flex;flex-direction:column}
.out code{word-break:break-all;background:var(--bg);border:1px solid var(--line);border-radius:7px;padding:8px;display:block}
.picks{grid-column:1/-1;display:flex;flex-direction:column;gap:4px}.picks button{text-align:left;background:var(--bg);color:var(--fg);border-color:var(--line)}
.preview{margin:0;padding-left:1.2em}.preview li{margin:.2em 0}
details summary{cursor:pointer;color:var(--muted);font-size:.9em}
.langs{float:right;font-size:.9em}.langs a,.langs strong{margin-left:.6em}.subscribe{display:flex;gap:8px;flex-wrap:wrap;align-items:center;font-size:.9em}
.card h3{margin:.8em 0 0;font-size:1em}.note{font-size:.85em}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.8em;width:100%}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid var(--line);vertical-align:top}td code{word-break:break-all}
@media (max-width:520px){header,main{padding:10px}form{grid-template-columns:1fr}}
`;
/**
 * What the page's script adds to the server-rendered forms: helpers, building in place, preview, copy
 * (with a fallback where the clipboard API is missing: plain HTTP is not a secure context), and the
 * token kept in this browser only and taken out of the address bar. Its texts come from the page.
 */
const SCRIPT = `
(() => {
  const T = JSON.parse(document.getElementById('texts').textContent);
  const ERRORS = JSON.parse(T.errors);
  // An error answer said in the page's language when its code is known, with the server's own words after it.
  const said = (body, status) => body && body.error ? (ERRORS[body.error.code] ? ERRORS[body.error.code] + ' ' : '') + body.error.code + ': ' + body.error.message : 'HTTP ' + status;
  const fill = (s, p) => s.replace(/\\{(\\w+)\\}/g, (m, k) => (k in p ? p[k] : m));
  const KEY = 'feedgate-token';
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  const prompt = document.getElementById('token-form');
  if (prompt) {
    const stored = localStorage.getItem(KEY);
    if (stored && !given && !prompt.dataset.rejected) { location.replace('/?token=' + encodeURIComponent(stored) + (params.get('lang') ? '&lang=' + encodeURIComponent(params.get('lang')) : '')); return; }
    prompt.addEventListener('submit', () => localStorage.setItem(KEY, prompt.elements.token.value.trim()));
    return;
  }
  if (given) {
    localStorage.setItem(KEY, given);
    // Kept in this browser, not in the address bar, the history or a shared screenshot.
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '') + location.hash);
  }
  const token = given || localStorage.getItem(KEY) || '';
  const auth = token ? { Authorization: 'Bearer ' + token } : {};
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

  for (const form of document.querySelectorAll('form.build')) {
    const out = form.querySelector('.out');
    const picks = form.querySelector('.picks');
    const build = () => {
      let path = form.dataset.path;
      const q = new URLSearchParams();
      for (const el of form.querySelectorAll('[data-in]')) {
        const v = el.value.trim();
        if (el.dataset.in === 'path') {
          if (!v && el.required) return null;
          path = v ? path.replace(':' + el.name, encodeURIComponent(v)) : path.replace('/:' + el.name, '');
        } else if (v) q.set(el.name, v);
      }
      const url = new URL(path + '.' + form.elements.format.value, location.origin);
      url.search = q.toString();
      return url.href;
    };
    const show = (url) => {
      const full = new URL(url);
      if (token) full.searchParams.set('token', token);
      out.classList.add('shown');
      out.querySelector('code').textContent = full.href;
      out.querySelector('a.open').href = full.href;
      const subs = out.querySelector('.subscribe');
      subs.innerHTML = '<span class="muted">' + esc(T.subscribe) + '</span>' + JSON.parse(subs.dataset.readers).map((r) => '<a target="_blank" rel="noopener" href="' + esc(r.template.replace('{url}', encodeURIComponent(full.href))) + '">' + esc(r.name) + '</a>').join('') + '<a href="' + esc('feed:' + full.href) + '">' + esc(T.feedLink) + '</a>';
      return full.href;
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const url = build();
      if (!url) { form.reportValidity(); return; }
      show(url);
      fetch('/api/opml/feeds', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ url }) }).catch(() => {});
      const list = out.querySelector('.preview');
      list.innerHTML = '<li class="muted">' + esc(T.loading) + '</li>';
      try {
        const p = new URL(url); p.pathname = p.pathname.replace(/\\.(rss|atom|json)$/, '') + '.json'; p.searchParams.set('limit', '5');
        const res = await fetch(p, { headers: auth });
        const body = await res.json();
        if (!res.ok) throw new Error(said(body, res.status));
        list.innerHTML = body.items.length ? body.items.map((i) => '<li>' + esc(i.title) + (i.date_published ? ' <span class="muted">' + esc(i.date_published.slice(0, 10)) + '</span>' : '') + '</li>').join('') : '<li class="muted">' + esc(T.empty) + '</li>';
        list.dataset.title = body.title;
      } catch (err) {
        list.innerHTML = '<li class="bad">' + esc(err.message) + '</li>';
      }
    });
    out.querySelector('button.copy').addEventListener('click', async (ev) => {
      const code = out.querySelector('code');
      const note = out.querySelector('.copied');
      let copied = false;
      try {
        await navigator.clipboard.writeText(code.textContent);
        copied = true;
      } catch {
        // No clipboard API here (plain HTTP is not a secure context): select the URL, and try the old way.
        const range = document.createRange();
        range.selectNodeContents(code);
        const sel = getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { copied = document.execCommand('copy'); } catch { copied = false; }
      }
      note.textContent = copied ? T.copied : T.selected;
      note.className = 'copied ' + (copied ? 'ok' : 'warn');
    });
    const runHelper = async (btn) => {
      const field = form.elements[btn.dataset.field];
      const kind = btn.dataset.kind;
      picks.innerHTML = '<span class="muted">' + esc(T.looking) + '</span>';
      try {
        let url = btn.dataset.helper;
        if (kind === 'search' || kind === 'link') url += encodeURIComponent(field.value.trim());
        const res = await fetch(url, { headers: { ...auth, accept: 'application/json' } });
        const body = await res.json();
        if (!res.ok) throw new Error(said(body, res.status));
        if (kind === 'link') { field.value = body.secUserId; picks.innerHTML = '<span class="ok">' + esc(fill(T.found, { id: body.secUserId })) + '</span>'; return; }
        const rows = body.accounts || (body.data && body.data.list) || body.users || [];
        if (!rows.length) { picks.innerHTML = '<span class="muted">' + esc(T.none) + '</span>'; return; }
        picks.innerHTML = '';
        for (const r of rows) {
          const value = r.username || r.biz;
          const b = document.createElement('button');
          b.type = 'button';
          const state = r.state ? ' · ' + r.state + (r.state !== 'effective' ? ' ' + r.state_since.slice(0, 16).replace('T', ' ') : ' → ' + r.expires_at.slice(11, 16)) : '';
          b.innerHTML = esc(r.nickname || value) + ' <span class="' + (r.state && r.state !== 'effective' ? 'warn' : 'muted') + '">' + esc(value) + esc(state) + '</span>';
          b.addEventListener('click', () => { field.value = value; picks.innerHTML = ''; field.focus(); });
          picks.append(b);
        }
      } catch (err) {
        picks.innerHTML = '<span class="bad">' + esc(err.message) + '</span>';
      }
    };
    for (const btn of form.querySelectorAll('button.helper')) {
      btn.addEventListener('click', () => runHelper(btn));
      // Enter in a field to search looks it up, instead of building a URL from the search words.
      const field = form.elements[btn.dataset.field];
      if (btn.dataset.kind !== 'list') field.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); runHelper(btn); } });
    }
  }
})();
`;

/** A form's id on the page, and in ?build= when a browser without JavaScript submits it. */
export const formId = (source: string, index: number) => `${source}-${index}`;

/**
 * The feed URL a form builds from its values, as the page's script builds it: path parameters filled in
 * (a missing optional one dropped), the other values as query parameters, the format as the suffix.
 * Without JavaScript the server builds it from the submitted form. Undefined `url` names what is missing.
 */
export function buildFeedUrl(form: SubscriptionForm, values: Record<string, string | undefined>, base: string, token: string | undefined, tx: Texts): { url?: string; error?: string } {
  let path = form.path;
  const q = new URLSearchParams();
  for (const f of form.fields) {
    const v = (values[f.name] ?? '').trim();
    if (f.in === 'path') {
      if (!v && f.required) return { error: tx.t('page.form.missing', { field: tx.t(f.label) }) };
      path = v ? path.replace(`:${f.name}`, encodeURIComponent(v)) : path.replace(`/:${f.name}`, '');
    } else if (v) q.set(f.name, v);
  }
  for (const name of ['limit', 'filter', 'filterout']) {
    const v = (values[name] ?? '').trim();
    if (v) q.set(name, v);
  }
  const format = ['rss', 'atom', 'json'].includes(values.format ?? '') ? values.format : 'rss';
  if (token) q.set('token', token);
  const qs = q.toString();
  return { url: `${base}${path}.${format}${qs ? `?${qs}` : ''}` };
}

function statusOf(s: SourceView, tx: Texts): string {
  if (!s.configured) return `<span class="badge bad">${e(tx.t('page.status.notConfigured'))}</span>`;
  if (s.upstreams.some((u) => u.state === 'failing')) return `<span class="badge warn">${e(tx.t('page.status.failing'))}</span>`;
  if (s.upstreams.some((u) => u.state === 'ok')) return `<span class="badge ok">${e(tx.t('page.status.working'))}</span>`;
  return `<span class="badge muted">${e(tx.t('page.status.ready'))}</span>`;
}

function helperButton(field: SubscriptionForm['fields'][number], tx: Texts): string {
  if (!field.helper) return '';
  const kind = field.helper.endsWith('=') ? (field.helper.includes('url=') ? 'link' : 'search') : 'list';
  const label = tx.t(kind === 'search' ? 'page.helper.search' : kind === 'link' ? 'page.helper.link' : 'page.helper.list');
  return `<button type="button" class="helper secondary" data-field="${e(field.name)}" data-helper="${e(field.helper)}" data-kind="${kind}">${e(label)}</button>`;
}

function fieldControl(f: SubscriptionForm['fields'][number], id: string, value: string | undefined, tx: Texts): string {
  const attrs = `id="${e(id)}" name="${e(f.name)}" data-in="${f.in}"${f.required ? ' required' : ''}`;
  const opt = (v: string, label: string) => `<option value="${e(v)}"${(value ?? '') === v ? ' selected' : ''}>${e(label)}</option>`;
  if (f.yesNo) {
    // The default is sent as nothing: the feed URL stays as short as the choice allows.
    const yes = tx.t('page.form.yes');
    const no = tx.t('page.form.no');
    const byDefault = tx.t('page.form.byDefault', { value: f.yesNo.default ? yes : no });
    return `<select ${attrs}>${opt('', byDefault)}${f.yesNo.default ? opt('0', no) : opt('1', yes)}</select>`;
  }
  if (f.options) return `<select ${attrs}>${f.options.map((o) => opt(o, o)).join('')}</select>`;
  const placeholder = f.example ? ` placeholder="${e(tx.t('page.form.example', { example: f.example }))}"` : '';
  return `<input ${attrs}${placeholder} value="${e(value ?? '')}" autocomplete="off">`;
}

function formHtml(s: SourceView, form: SubscriptionForm, index: number, v: StartPageView): string {
  const { tx } = v;
  const id = formId(s.name, index);
  const built = v.built?.form === id ? v.built : undefined;
  const values = built?.values ?? {};
  const fields = form.fields
    .map((f) => {
      const fid = `${id}-${f.name}`;
      return `<label for="${e(fid)}">${e(tx.t(f.label))}${fieldControl(f, fid, values[f.name], tx)}${helperButton(f, tx)}</label>`;
    })
    .join('');
  const formats = [['rss', 'RSS 2.0'], ['atom', 'Atom 1.0'], ['json', 'JSON Feed 1.1']].map(([k, label]) => `<option value="${k}"${values.format === k ? ' selected' : ''}>${label}</option>`).join('');
  const readers = JSON.stringify(v.readers);
  const url = built?.url;
  const subscribe = url
    ? `<span class="muted">${e(tx.t('page.out.subscribe'))}</span>${v.readers.map((r) => `<a target="_blank" rel="noopener" href="${e(r.template.replace('{url}', encodeURIComponent(url)))}">${e(r.name)}</a>`).join('')}<a href="${e(`feed:${url}`)}">${e(tx.t('page.out.feedLink'))}</a>`
    : '';
  return `${form.title ? `<h3>${e(tx.t(form.title))}</h3>` : ''}<form class="build" id="${e(id)}" method="get" action="/#${e(id)}" data-path="${e(form.path)}">
<input type="hidden" name="build" value="${e(id)}">${v.token ? `<input type="hidden" name="token" value="${e(v.token)}">` : ''}<input type="hidden" name="lang" value="${e(tx.lang)}">
${fields}
<label>${e(tx.t('page.form.format'))}<select name="format">${formats}</select></label>
<label>${e(tx.t('page.form.limit'))}<input name="limit" data-in="query" inputmode="numeric" placeholder="${e(tx.t('page.form.limitHint'))}" value="${e(values.limit ?? '')}"></label>
<label>${e(tx.t('page.form.keep'))}<input name="filter" data-in="query" placeholder="${e(tx.t('page.form.example', { example: '4K|1080p' }))}" value="${e(values.filter ?? '')}"></label>
<label>${e(tx.t('page.form.drop'))}<input name="filterout" data-in="query" placeholder="${e(tx.t('page.form.example', { example: '广告' }))}" value="${e(values.filterout ?? '')}"></label>
<div class="picks" aria-live="polite">${built?.error ? `<span class="bad">${e(built.error)}</span>` : ''}</div>
<div class="row"><button type="submit">${e(tx.t('page.form.build'))}</button></div>
<div class="out${url ? ' shown' : ''}"><code>${e(url ?? '')}</code><div class="row"><button type="button" class="copy secondary">${e(tx.t('page.out.copy'))}</button><span class="copied" aria-live="polite"></span><a class="open" target="_blank" rel="noopener"${url ? ` href="${e(url)}"` : ''}>${e(tx.t('page.out.open'))}</a></div><div class="subscribe" data-readers="${e(readers)}">${subscribe}</div><ul class="preview"></ul></div>
</form>`;
}

/** At most this many feeds per source in the page's table; /api/sources lists them all. */
const REFRESH_ROWS = 100;

/** A feed's archive: how far it was filled back, and its export (Markdown, JSON Lines). */
function archiveCell(f: NonNullable<SourceView['refresh']>[number], tx: Texts, token: string | undefined): string {
  const b = f.backfill;
  const progress = !b
    ? ''
    : b.lastError
      ? `<span class="warn">${e(tx.t('page.archive.backfillFailed', { pages: b.pages + 1, error: b.lastError }))}</span><br>`
      : `<span class="muted">${e(tx.t(b.done ? 'page.archive.filled' : 'page.archive.backfilling', { pages: b.pages, goal: b.goal, added: b.added }))}</span><br>`;
  const link = (format: string, label: string) => {
    const q = new URLSearchParams({ feed: feedPath(f.url), format });
    if (token) q.set('token', token);
    return `<a href="${e(`/api/archive/export?${q}`)}" download>${label}</a>`;
  };
  return `${progress}${e(tx.t('page.archive.export'))} ${link('markdown', 'Markdown')} · ${link('jsonl', 'JSON Lines')}`;
}

/** Per feed: last and next refresh, how often, what the last one found. Failing feeds first, then the soonest due. */
function refreshTable(feeds: NonNullable<SourceView['refresh']>, tx: Texts, v: StartPageView): string {
  const when = (iso?: string) => (iso ? e(tx.dateTime(Date.parse(iso))) : '—');
  const every = (s: number) => (s >= 3600 ? `${+(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${s} s`);
  const rows = [...feeds]
    .sort((a, b) => b.failures - a.failures || (a.nextRefresh ?? '').localeCompare(b.nextRefresh ?? ''))
    .slice(0, REFRESH_ROWS)
    .map((f) => {
      const found = f.lastError ? `<span class="bad">${e(f.lastError)}</span>` : f.lastRefresh ? e(tx.t('page.refresh.found', { count: f.newItems })) : '—';
      return `<tr><td><code>${e(f.url)}</code></td><td>${when(f.lastRefresh)}</td><td>${when(f.nextRefresh)}</td><td>${every(f.intervalSeconds)}</td><td>${found}</td>${v.archive ? `<td>${archiveCell(f, tx, v.token)}</td>` : ''}</tr>`;
    });
  const more = feeds.length > REFRESH_ROWS ? `<p class="muted">${e(tx.t('page.refresh.more', { count: feeds.length - REFRESH_ROWS }))}</p>` : '';
  const head = (['page.refresh.feed', 'page.refresh.last', 'page.refresh.next', 'page.refresh.every', 'page.refresh.result', ...(v.archive ? (['page.refresh.archive'] as const) : [])] as const).map((k) => `<th>${e(tx.t(k))}</th>`).join('');
  return `<details class="refresh-feeds"><summary>${e(tx.t('page.refresh.table'))}</summary><div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>${more}</details>`;
}

function sourceCard(s: SourceView, v: StartPageView): string {
  const { tx } = v;
  const problems: string[] = [];
  if (s.missing.length) {
    const help = s.settings.filter((x) => s.missing.includes(x.name)).map((x) => `<li><code>${e(x.name)}</code> (${e(x.help)})</li>`);
    problems.push(`<div class="bad"><p>${e(tx.t('page.missing'))}</p><ul>${help.join('')}</ul></div>`);
  }
  if (s.notice) problems.push(`<p class="warn note">${e(tx.t(s.notice))}</p>`);
  for (const u of s.upstreams.filter((x) => x.state === 'failing')) {
    const text = u.lastFailure
      ? tx.t('page.failed', { name: u.name, time: tx.dateTime(Date.parse(u.lastFailure)), error: u.lastError ?? '' })
      : tx.t('page.failedUndated', { name: u.name, error: u.lastError ?? '' });
    problems.push(`<p class="warn">${e(text)}</p>`);
  }
  const refreshed = s.refresh ?? [];
  if (refreshed.length) {
    const last = Math.max(...refreshed.map((f) => (f.lastRefresh ? Date.parse(f.lastRefresh) : 0)));
    problems.push(`<p class="muted refresh">${e(tx.t('page.refresh', { count: refreshed.length, time: last > 0 ? tx.dateTime(last) : '—' }))}</p>`);
    for (const f of refreshed.filter((x) => x.lastError).slice(0, 5)) problems.push(`<p class="warn">${e(tx.t('page.refreshFailed', { url: f.url, error: f.lastError ?? '' }))}</p>`);
    problems.push(refreshTable(refreshed, tx, v));
  }
  // What its last loads and checks found, when something is wrong (alerts go out on each change).
  for (const h of (s.health ?? []).filter((x) => x.state !== 'ok')) {
    const who = h.account ? ` (${h.account})` : '';
    const fix = h.setting ? ` ${tx.t('health.alert.fix', { setting: h.setting })}` : '';
    problems.push(`<p class="warn health">${e(`${h.label}${who}: ${h.message}${fix}`)}</p>`);
  }
  const title = tx.t(`source.${s.name}.title` as MessageKey);
  const description = tx.t(`source.${s.name}.description` as MessageKey);
  return `<section class="card" id="source-${e(s.name)}">
<h2>${e(title)} ${statusOf(s, tx)}</h2>
<p class="muted">${e(description)}</p>
${problems.join('')}
${s.forms.map((f, i) => formHtml(s, f, i, v)).join('\n')}
<details><summary>${e(tx.t('page.routes'))}</summary><ul>${s.routes.map((r) => `<li><code>${e(r.method)} ${e(r.path)}</code> ${e(r.summary)}</li>`).join('')}</ul></details>
</section>`;
}

/** Error codes the page explains in its language when a preview fails (the message itself is the server's). */
const ERROR_CODES = [
  'UNAUTHORIZED', 'SOURCE_NOT_CONFIGURED', 'FEED_PENDING', 'UPSTREAM_UNREACHABLE', 'UPSTREAM_TIMEOUT', 'UPSTREAM_AUTH', 'UPSTREAM_BAD_RESPONSE', 'UPSTREAM_EMPTY',
  'UPSTREAM_RATE_LIMITED', 'CALL_BUDGET_EXHAUSTED', 'CHANNELS_PAGE_CLOSED', 'MP_ACCOUNT_UNKNOWN', 'MP_CREDENTIALS_EXPIRED', 'MP_LIMITED', 'DOUYIN_EMPTY_BODY',
  'DOUYIN_CAPTCHA', 'DOUYIN_FORBIDDEN', 'DOUYIN_USER_NOT_FOUND', 'DOUYIN_PRIVATE_ACCOUNT', 'ECLOUD_NOT_CONFIGURED', 'NOT_FOUND', 'BAD_REQUEST',
] as const;

/** The texts the page's script writes, in the page's language. */
function scriptTexts(tx: Texts): Record<string, string> {
  const keys: Record<string, MessageKey> = {
    subscribe: 'page.out.subscribe',
    feedLink: 'page.out.feedLink',
    loading: 'page.out.loading',
    empty: 'page.out.empty',
    copied: 'page.out.copied',
    selected: 'page.out.selected',
    looking: 'page.helper.looking',
    none: 'page.helper.none',
    found: 'page.helper.found',
  };
  const errors = Object.fromEntries(ERROR_CODES.map((code) => [code, tx.t(`error.${code}`)]));
  return { ...Object.fromEntries(Object.entries(keys).map(([k, key]) => [k, tx.t(key)])), errors: JSON.stringify(errors) };
}

/** GET / : server-rendered; works without JavaScript (the form is built on the server), which only adds comfort. */
export function renderStartPage(v: StartPageView): string {
  const { tx } = v;
  const tokenQuery = v.token ? `token=${encodeURIComponent(v.token)}&` : '';
  const langs = (['zh-CN', 'en'] as const)
    .map((l) => (l === tx.lang ? `<strong>${l === 'zh-CN' ? '中文' : 'English'}</strong>` : `<a href="/?${tokenQuery}lang=${l}" hreflang="${l}">${l === 'zh-CN' ? '中文' : 'English'}</a>`))
    .join('');
  const body =
    v.sources === null
      ? `<section class="card"><h2>${e(tx.t('page.token.title'))}</h2><p class="muted">${e(tx.t('page.token.help'))}</p>
${v.tokenRejected ? `<p class="bad">${e(tx.t('page.token.wrong'))}</p>` : ''}
<form id="token-form" method="get" action="/"${v.tokenRejected ? ' data-rejected="1"' : ''}><input type="hidden" name="lang" value="${e(tx.lang)}"><label>${e(tx.t('page.token.label'))}<input name="token" type="password" autocomplete="current-password" required></label><div class="row"><button type="submit">${e(tx.t('page.token.continue'))}</button></div></form></section>`
      : `${v.sources.map((s) => sourceCard(s, v)).join('\n')}
${v.ownerEmailMissing ? `<section class="card" id="podcast-owner"><h2>${e(tx.t('page.podcast.title'))}</h2><p class="warn">${e(tx.t('page.podcast.text'))}</p></section>` : ''}
<section class="card"><h2>${e(tx.t('page.feeds.title'))}</h2><p class="muted">${e(tx.t('page.feeds.text'))} <a href="/opml${v.token ? `?token=${encodeURIComponent(v.token)}` : ''}">${e(tx.t('page.feeds.export'))}</a>${v.tokenRequired ? ` (<a href="/opml?token=${encodeURIComponent(v.token ?? '')}&amp;with_token=1">${e(tx.t('page.feeds.withToken'))}</a>)` : ''}</p></section>`;
  return `<!doctype html>
<html lang="${e(tx.lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>feedgate</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><header><nav class="langs" aria-label="${e(tx.t('page.language'))}">${langs}</nav><h1>feedgate</h1><p>${e(tx.t('page.tagline'))}</p></header>
<main>${body}</main>
<footer class="muted"><a href="/api/sources${v.token ? `?token=${encodeURIComponent(v.token)}` : ''}">/api/sources</a> · <a href="/healthz">/healthz</a></footer>
<script type="application/json" id="texts">${JSON.stringify(scriptTexts(tx)).replace(/</g, '\\u003c')}</script>
<script nonce="${e(v.nonce)}">${SCRIPT}</script></body></html>
`;
}

export const startPageCsp = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
