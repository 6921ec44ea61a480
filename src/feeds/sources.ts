import { Platforms } from '../proxy/platforms.js';
import { channelsModule } from './channels/index.js';
import type { SourceModule } from './descriptor.js';
import { douyinModule } from './douyin/index.js';
import { hdhiveModule } from './hdhive/index.js';
import { momentsModule } from './moments/index.js';
import { mpModule } from './mp/index.js';

/**
 * The list of sources: the one file outside its folder that a new source touches. Order is the order of
 * the start page and /api/sources.
 */
export const SOURCES: readonly SourceModule[] = [channelsModule, mpModule, momentsModule, douyinModule, hdhiveModule];

/** The media rules every module in `modules` declares, as one table. */
export function platformsOf(modules: readonly SourceModule[]): Platforms {
  return new Platforms(modules.flatMap((m) => Object.entries(m.media ?? {})));
}
