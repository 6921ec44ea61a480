/**
 * Child process for the benchmarks: a fake HDHive with a 20-item title and a fake CDN with a 64 MiB
 * encrypted video and an 800x600 JPEG. Prints its URLs on stderr as one "BENCH {json}" line.
 */
import { randomBytes } from 'node:crypto';
import { startFakeCdn } from '../test/fakes/cdn.js';
import { sampleTv101172, startFakeHdhive } from '../test/fakes/hdhive.js';
import { encrypt, sampleJpeg } from '../test/helpers/media.js';

const KEY = 7886446226772543123n;
const hdhive = await startFakeHdhive();
const base = sampleTv101172();
hdhive.resources.set(
  'tv/101172',
  Array.from({ length: 20 }, (_, i) => ({ ...base[i % 2], slug: `${String(i).padStart(4, '0')}${'0'.repeat(28)}`, remark: `第${i + 1}集 更新 ${'说明文字'.repeat(20)}`, created_at: `2026-03-${String(10 + i).padStart(2, '0')} 17:40:15` })),
);
const cdn = await startFakeCdn();
cdn.files.set('/video.mp4', { body: encrypt(randomBytes(64 * 1024 * 1024), KEY), type: 'video/mp4' });
cdn.files.set('/cover.jpg', { body: await sampleJpeg(800, 600), type: 'image/jpeg' });
console.error('BENCH ' + JSON.stringify({ hdhive: hdhive.url, apiKey: hdhive.apiKey, cdn: cdn.url, cdnHost: cdn.host, key: KEY.toString() }));
process.on('SIGTERM', () => process.exit(0));
