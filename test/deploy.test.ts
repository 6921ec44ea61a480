import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as netServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/app.js';
import { ROOT, boot, exitOf } from './helpers/process.js';
import { rawRequest } from './helpers/raw.js';
import { composeTool, nginxTool } from './helpers/tools.js';

/**
 * The deployment files as written, with the example .env applied (issue 22, "Deployment that works as
 * written"): the image, compose and the systemd unit keep where they listen and their data directory,
 * compose is read by Debian's docker-compose, and nginx passes every header on every location.
 */

const run = promisify(execFile);
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

/** KEY=value lines as Docker's --env-file, systemd's EnvironmentFile= and Node's loadEnvFile read them. */
function envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** The image's ENV, from the Dockerfile's final stage. */
function imageEnv(): Record<string, string> {
  const final = read('Dockerfile').split(/^FROM /m).at(-1)!;
  const block = /^ENV ((?:[^\n]*\\\n)*[^\n]*)/m.exec(final)![1]!.replace(/\\\n/g, ' ');
  return Object.fromEntries([...block.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

const example = envFile(read('.env.example'));

describe('the example .env applied to every deployment', () => {
  it('sets none of the settings that belong to where feedgate runs', () => {
    for (const key of ['HOST', 'PORT', 'DATA_DIR']) expect(example, key).not.toHaveProperty(key);
  });

  it('docker run --env-file .env: the image keeps 0.0.0.0:8080 and /data (env-file values would beat ENV)', () => {
    const effective = { ...imageEnv(), ...example };
    expect(effective).toMatchObject({ HOST: '0.0.0.0', PORT: '8080', DATA_DIR: '/data' });
  });

  it('systemd: EnvironmentFile= is read after Environment=, and the unit keeps DATA_DIR in its StateDirectory', () => {
    const unit = read('deploy/feedgate.service');
    const set = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    const effective = { ...set, ...example };
    expect(effective.DATA_DIR).toBe('/var/lib/feedgate');
    expect(unit).toMatch(/^StateDirectory=feedgate$/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/feedgate\/feedgate\.env$/m);
  });

  it('npm start with the example as .env starts on loopback with ./data, and serves', async () => {
    const dir = tempDir();
    copyFileSync(join(ROOT, '.env.example'), join(dir, '.env'));
    // PORT=0 from the environment (real variables beat .env) only so that parallel tests do not collide.
    const { child, url } = await boot({ PORT: '0' }, dir);
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(readFileSync(join(dir, 'data', 'proxy-secret'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    } finally {
      child.kill('SIGTERM');
      expect(await exitOf(child)).toBe(0);
    }
  });
});

describe.skipIf(!composeTool().ok)('docker-compose.yml, as Debian\'s docker-compose reads it', () => {
  async function config(env: Record<string, string> = {}, dotenv = '') {
    const dir = tempDir();
    copyFileSync(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    copyFileSync(join(ROOT, '.env.example'), join(dir, '.env'));
    if (dotenv) appendFileSync(join(dir, '.env'), dotenv);
    const { stdout } = await run('docker-compose', ['config'], { cwd: dir, env: { PATH: process.env.PATH, ...env } });
    return parseYaml(stdout) as { services: Record<string, any> };
  }

  it('is valid; the container listens on 0.0.0.0:8080 with /data and Redis whatever .env says; the health check follows PORT', async () => {
    const c = await config();
    const f = c.services.feedgate;
    expect(f.environment).toMatchObject({ HOST: '0.0.0.0', PORT: '8080', DATA_DIR: '/data', REDIS_URL: 'redis://redis:6379/0' });
    expect(f.ports.map((p: any) => (typeof p === 'string' ? p : `${p.published}:${p.target}`))).toEqual(['8080:8080']);
    expect(f.healthcheck.test.join(' ')).toContain('process.env.PORT');
    expect(f.depends_on.redis.condition).toBe('service_healthy');
    expect(c.services.redis.healthcheck).toBeDefined();
  });

  it('runs Redis alone by default; the "scale" profile adds PostgreSQL and an S3 server, configured from .env', async () => {
    // `config` lists every service whatever the profile: what runs by default is what has none.
    const plain = await config();
    expect(Object.entries(plain.services).flatMap(([name, svc]) => (svc.profiles ? [] : [name])).sort()).toEqual(['feedgate', 'redis']);
    for (const name of ['postgres', 's3', 's3-init']) expect(plain.services[name].profiles).toEqual(['scale']);
    const scale = await config(
      { COMPOSE_PROFILES: 'scale' },
      '\nPOSTGRES_PASSWORD=pw\nAWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=SK\nDATABASE_URL=postgres://feedgate:pw@postgres:5432/feedgate\nARCHIVE_S3_URL=s3://feedgate/archive\nARCHIVE_S3_ENDPOINT=http://s3:8333\n',
    );
    expect(Object.keys(scale.services).sort()).toEqual(['feedgate', 'postgres', 'redis', 's3', 's3-init']);
    expect(scale.services.postgres.environment).toMatchObject({ POSTGRES_USER: 'feedgate', POSTGRES_DB: 'feedgate', POSTGRES_PASSWORD: 'pw' });
    expect(scale.services['s3-init'].environment).toMatchObject({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' });
    expect(scale.services['s3-init'].command.join(' ')).toMatch(/s3\.bucket\.create -name feedgate/);
    // What feedgate reads from .env points at those services.
    const f = scale.services.feedgate;
    expect(f.environment).toMatchObject({ DATABASE_URL: 'postgres://feedgate:pw@postgres:5432/feedgate', ARCHIVE_S3_URL: 's3://feedgate/archive', ARCHIVE_S3_ENDPOINT: 'http://s3:8333' });
  });

  it('publishes another host port with FEEDGATE_PORT', async () => {
    const f = (await config({ FEEDGATE_PORT: '9090' })).services.feedgate;
    expect(f.ports.map((p: any) => (typeof p === 'string' ? p : `${p.published}:${p.target}`))).toEqual(['9090:8080']);
  });
});

describe.skipIf(!nginxTool().ok)('deploy/nginx.conf in front of an echo server', () => {
  let nginx: ChildProcess | undefined;
  const echo = createServer((req: IncomingMessage, res) => {
    const socket = req.socket as Socket & { served?: number };
    socket.served = (socket.served ?? 0) + 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, headers: req.headers, onSocket: socket.served }));
  });
  afterAll(async () => {
    nginx?.kill('SIGTERM');
    if (nginx) await exitOf(nginx);
    echo.closeAllConnections();
    await new Promise((r) => echo.close(r));
  });

  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = netServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });

  it('every location passes Host, X-Forwarded-*, Range and If-Range, and keeps the upstream connection alive', async () => {
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as AddressInfo).port;
    const port = await freePort();
    const redirectPort = await freePort();
    const dir = tempDir();
    mkdirSync(join(dir, 'logs'));
    // The file as shipped, with its addresses pointed here: no TLS, the echo server as feedgate.
    const site = read('deploy/nginx.conf')
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${echoPort};`)
      .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${port};`)
      .replace(/^\s*ssl_certificate(_key)?\s.*$/gm, '')
      .replace('listen 80;', `listen 127.0.0.1:${redirectPort};`);
    expect(site).toContain(`127.0.0.1:${port}`);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log; events { worker_connections 64; }
       http { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
       ${site} }`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = await fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      );
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    expect(up, readFileSync(join(dir, 'logs', 'error.log'), 'utf8')).toBe(true);

    const paths = ['/', '/feeds/hdhive/movie/550.rss', '/proxy?url=x', '/play?url=y', '/play/channels/1/2', '/opml'];
    let reused = 0;
    for (const path of paths) {
      for (let i = 0; i < 2; i++) {
        const res = await rawRequest(`http://127.0.0.1:${port}`, path, { headers: { Host: 'feeds.example.org', Range: 'bytes=0-99', 'If-Range': '"abc"' } });
        const seen = JSON.parse(res.body.toString('utf8')) as { url: string; headers: Record<string, string>; onSocket: number };
        expect(seen.url, path).toBe(path);
        expect(seen.headers.host, path).toBe('feeds.example.org');
        expect(seen.headers['x-forwarded-host'], path).toBe('feeds.example.org');
        expect(seen.headers['x-forwarded-proto'], path).toBe('http');
        expect(seen.headers['x-forwarded-for'], path).toBe('127.0.0.1');
        expect(seen.headers.range, path).toBe('bytes=0-99');
        expect(seen.headers['if-range'], path).toBe('"abc"');
        expect(seen.headers.connection ?? '', path).not.toBe('close');
        if (seen.onSocket > 1) reused++;
      }
    }
    // nginx keeps its connections to feedgate open (keepalive 32) on media locations too.
    expect(reused).toBeGreaterThan(paths.length);
    const redirect = await rawRequest(`http://127.0.0.1:${redirectPort}`, '/feeds/x', { headers: { Host: 'feeds.example.org' } });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('https://feeds.example.org/feeds/x');
  });
});

describe('the published image', () => {
  it('a tag builds amd64 and arm64 and pushes them to GHCR; other runs push nothing', () => {
    const wf = parseYaml(read('.github/workflows/image.yml')) as any;
    expect(wf.on.push.tags).toEqual(['v*.*.*']);
    expect(wf.permissions.packages).toBe('write');
    const steps = wf.jobs.image.steps as Array<{ uses?: string; with?: Record<string, string> }>;
    const login = steps.find((s) => s.uses?.startsWith('docker/login-action'))!;
    expect(login.with!.registry).toBe('ghcr.io');
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action'))!;
    expect(build.with!.platforms!.split(',')).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build.with!.push).toBe("${{ startsWith(github.ref, 'refs/tags/v') }}");
    expect(steps.some((s) => s.uses?.startsWith('docker/setup-qemu-action'))).toBe(true);
    // The README's one-liner runs what this publishes.
    expect(read('README.md')).toMatch(/docker run -d --name feedgate -p 8080:8080 -v feedgate-data:\/data .*ghcr\.io\/OWNER\/feedgate:latest/);
  });
});
