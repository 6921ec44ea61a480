// `npm start`: builds dist/ when src/ (or the build config) is newer, then runs the server in this same
// process, so a signal sent to `npm start` reaches the server itself (npm runs this with `exec`).
// `npm run cli -- <command>` runs the command-line entry (dist/cli.js) the same way.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = process.argv[2] === 'cli';
if (cli) process.argv.splice(2, 1);
const entry = join(root, 'dist', cli ? 'cli.js' : 'server.js');

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const name of readdirSync(path)) t = Math.max(t, newest(join(path, name)));
  return t;
}

const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'tsconfig.json')), newest(join(root, 'tsconfig.build.json')));
if (!existsSync(entry) || newest(join(root, 'dist')) < sources) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  console.error('feedgate: building dist/ (src/ changed since the last build)');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import(pathToFileURL(entry).href);
