import { escapeHtml as e } from '../feeds/html.js';
import type { describeSource } from '../feeds/mount.js';

type SourceView = ReturnType<typeof describeSource>;

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
@media (max-width:520px){header,main{padding:10px}form{grid-template-columns:1fr}}
`;

/** What the page's script does: helpers, building, preview, copy, the token kept in this browser only. */
const SCRIPT = `
(() => {
  const KEY = 'feedgate-token';
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  const prompt = document.getElementById('token-form');
  if (prompt) {
    const stored = localStorage.getItem(KEY);
    if (stored && !given && !prompt.dataset.rejected) { location.replace('/?token=' + encodeURIComponent(stored)); return; }
    prompt.addEventListener('submit', () => localStorage.setItem(KEY, prompt.elements.token.value.trim()));
    return;
  }
  if (given) localStorage.setItem(KEY, given);
  const token = given || '';
  const auth = token ? { Authorization: 'Bearer ' + token } : {};
  const withToken = (u) => { if (!token) return u; const x = new URL(u, location.origin); x.searchParams.set('token', token); return x.href; };
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
      const fmt = form.elements.format.value;
      const url = new URL(path + (fmt ? '.' + fmt : ''), location.origin);
      url.search = q.toString();
      return url.href;
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const url = build();
      if (!url) { form.reportValidity(); return; }
      out.classList.add('shown');
      const full = withToken(url);
      out.querySelector('code').textContent = full;
      out.querySelector('a.open').href = full;
      fetch('/api/opml/feeds', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ url }) }).catch(() => {});
      const list = out.querySelector('.preview');
      list.innerHTML = '<li class="muted">Loading a preview…</li>';
      try {
        const p = new URL(url); p.pathname = p.pathname.replace(/\\.(rss|atom|json)$/, '') + '.json'; p.searchParams.set('limit', '5');
        const res = await fetch(p, { headers: auth });
        const body = await res.json();
        if (!res.ok) throw new Error(body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status);
        list.innerHTML = body.items.length ? body.items.map((i) => '<li>' + esc(i.title) + (i.date_published ? ' <span class="muted">' + esc(i.date_published.slice(0, 10)) + '</span>' : '') + '</li>').join('') : '<li class="muted">No items yet.</li>';
        list.dataset.title = body.title;
      } catch (err) {
        list.innerHTML = '<li class="bad">' + esc(err.message) + '</li>';
      }
    });
    out.querySelector('button.copy').addEventListener('click', async (ev) => {
      await navigator.clipboard.writeText(out.querySelector('code').textContent).catch(() => {});
      ev.target.textContent = 'Copied';
      setTimeout(() => (ev.target.textContent = 'Copy'), 1500);
    });
    for (const btn of form.querySelectorAll('button.helper')) {
      btn.addEventListener('click', async () => {
        const field = form.elements[btn.dataset.field];
        const kind = btn.dataset.kind;
        picks.innerHTML = '<span class="muted">Looking…</span>';
        try {
          let url = btn.dataset.helper;
          if (kind === 'search') url += encodeURIComponent(field.value.trim());
          if (kind === 'link') url += encodeURIComponent(field.value.trim());
          const res = await fetch(url, { headers: { ...auth, accept: 'application/json' } });
          const body = await res.json();
          if (!res.ok) throw new Error(body.error ? body.error.message : 'HTTP ' + res.status);
          if (kind === 'link') { field.value = body.secUserId; picks.innerHTML = '<span class="ok">Found ' + esc(body.secUserId) + '</span>'; return; }
          const rows = body.accounts || (body.data && body.data.list) || body.users || [];
          if (!rows.length) { picks.innerHTML = '<span class="muted">Nothing found.</span>'; return; }
          picks.innerHTML = '';
          for (const r of rows) {
            const value = r.username || r.biz;
            const b = document.createElement('button');
            b.type = 'button';
            const state = r.state ? ' · ' + r.state + (r.state !== 'effective' ? ' since ' + r.state_since.slice(0, 16).replace('T', ' ') : ', until ' + r.expires_at.slice(11, 16)) : '';
            b.innerHTML = esc(r.nickname || value) + ' <span class="' + (r.state && r.state !== 'effective' ? 'warn' : 'muted') + '">' + esc(value) + esc(state) + '</span>';
            b.addEventListener('click', () => { field.value = value; picks.innerHTML = ''; });
            picks.append(b);
          }
        } catch (err) {
          picks.innerHTML = '<span class="bad">' + esc(err.message) + '</span>';
        }
      });
    }
  }
})();
`;

function statusOf(s: SourceView): string {
  if (!s.configured) return `<span class="badge bad">not configured</span>`;
  const failing = s.upstreams.filter((u) => u.state === 'failing');
  if (failing.length) return `<span class="badge warn">upstream failing</span>`;
  if (s.upstreams.some((u) => u.state === 'ok')) return `<span class="badge ok">working</span>`;
  return `<span class="badge muted">ready</span>`;
}

function helperButton(field: SourceView['form']['fields'][number]): string {
  if (!field.helper) return '';
  const kind = field.helper.endsWith('=') ? (field.helper.includes('url=') ? 'link' : 'search') : 'list';
  const label = kind === 'search' ? 'Search' : kind === 'link' ? 'Resolve link' : 'List';
  return `<button type="button" class="helper secondary" data-field="${e(field.name)}" data-helper="${e(field.helper)}" data-kind="${kind}">${label}</button>`;
}

function sourceCard(s: SourceView): string {
  const problems: string[] = [];
  if (s.missing.length) {
    const help = s.settings.filter((x) => s.missing.includes(x.name)).map((x) => `<code>${e(x.name)}</code> (${e(x.help)})`);
    problems.push(`<p class="bad">Set ${help.join(', ')} in the environment, <code>.env</code> or <code>CONFIG_FILE</code>, then restart.</p>`);
  }
  for (const u of s.upstreams.filter((x) => x.state === 'failing')) {
    problems.push(`<p class="warn">${e(u.name)} failed ${u.lastFailure ? `at ${e(u.lastFailure.slice(0, 19).replace('T', ' '))} UTC` : ''}: ${e(u.lastError ?? '')}</p>`);
  }
  const fields = s.form.fields
    .map((f) => {
      const id = `${s.name}-${f.name}`;
      const control = f.options
        ? `<select id="${e(id)}" name="${e(f.name)}" data-in="${f.in}"${f.required ? ' required' : ''}>${f.required ? '' : '<option value="">(default)</option>'}${f.options.map((o) => `<option>${e(o)}</option>`).join('')}</select>`
        : `<input id="${e(id)}" name="${e(f.name)}" data-in="${f.in}" placeholder="${e(f.example ?? '')}"${f.required ? ' required' : ''} autocomplete="off">`;
      return `<label for="${e(id)}">${e(f.label)}${control}${helperButton(f)}</label>`;
    })
    .join('');
  return `<section class="card" id="source-${e(s.name)}">
<h2>${e(s.title)} ${statusOf(s)}</h2>
<p class="muted">${e(s.description)}</p>
${problems.join('')}
<form class="build" data-path="${e(s.form.path)}">
${fields}
<label>Format<select name="format"><option value="rss">RSS 2.0</option><option value="atom">Atom 1.0</option><option value="json">JSON Feed 1.1</option></select></label>
<label>At most<input name="limit" data-in="query" inputmode="numeric" placeholder="all items"></label>
<label>Keep (regex)<input name="filter" data-in="query" placeholder="e.g. 4K|1080p"></label>
<label>Drop (regex)<input name="filterout" data-in="query" placeholder="e.g. 广告"></label>
<div class="picks" aria-live="polite"></div>
<div class="row"><button type="submit">Build feed URL</button></div>
<div class="out"><code></code><div class="row"><button type="button" class="copy secondary">Copy</button><a class="open" target="_blank" rel="noopener">Open</a></div><ul class="preview"></ul></div>
</form>
<details><summary>Routes</summary><ul>${s.routes.map((r) => `<li><code>${e(r.method)} ${e(r.path)}</code> ${e(r.summary)}</li>`).join('')}</ul></details>
</section>`;
}

/** GET / : server-rendered; readable without JavaScript, which only adds building, preview and copy. */
export function renderStartPage(v: StartPageView): string {
  const body =
    v.sources === null
      ? `<section class="card"><h2>Access token</h2><p class="muted">This feedgate needs its access token. It is kept in this browser only and added to the feed URLs you build.</p>
${v.tokenRejected ? '<p class="bad">That token is not right.</p>' : ''}
<form id="token-form" method="get" action="/"${v.tokenRejected ? ' data-rejected="1"' : ''}><label>Token<input name="token" type="password" autocomplete="current-password" required></label><div class="row"><button type="submit">Continue</button></div></form></section>`
      : `${v.sources.map(sourceCard).join('\n')}
${v.ownerEmailMissing ? '<section class="card" id="podcast-owner"><h2>Podcast apps</h2><p class="warn">Feeds with videos are podcasts too. Podcast directories and the W3C feed validator ask for an owner e-mail in them: set <code>PODCAST_OWNER_EMAIL</code>, then restart.</p></section>' : ''}
<section class="card"><h2>Your feeds</h2><p class="muted">Feeds you build here or read lately, as OPML for Miniflux, FreshRSS or NetNewsWire: <a href="/opml${v.token ? `?token=${encodeURIComponent(v.token)}` : ''}">export</a>${v.tokenRequired ? ` (or <a href="/opml?token=${encodeURIComponent(v.token ?? '')}&amp;with_token=1">with the token in each URL</a>)` : ''}.</p></section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>feedgate</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><header><h1>feedgate</h1><p>Closed platforms as open feeds: build a URL, paste it into your reader.</p></header>
<main>${body}</main>
<footer class="muted"><a href="/api/sources${v.token ? `?token=${encodeURIComponent(v.token)}` : ''}">/api/sources</a> · <a href="/healthz">/healthz</a></footer>
<script nonce="${e(v.nonce)}">${SCRIPT}</script></body></html>
`;
}

export const startPageCsp = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;
