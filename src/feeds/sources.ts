import { MEDIA_SETTINGS, SERVER_SETTINGS, loadSettings, type SettingsSection } from '../config.js';
import { Platforms } from '../proxy/platforms.js';
import { channelsModule } from './channels/index.js';
import type { Config, SourceModule } from './descriptor.js';
import { douyinModule } from './douyin/index.js';
import { feedgateModule } from './feedgate/index.js';
import { hdhiveModule } from './hdhive/index.js';
import { momentsModule } from './moments/index.js';
import { mpModule } from './mp/index.js';

/**
 * The list of sources: the one file outside its folder that a new source touches. Order is the order
 * of the start page, /api/sources and the settings' documentation.
 */
export const SOURCES: readonly SourceModule[] = [channelsModule, mpModule, momentsModule, douyinModule, hdhiveModule, feedgateModule];

export type { Config };

/** The shared sections, then each section the modules declare (once, however many list it), then the media proxy's. */
export function settingsOf(modules: readonly SourceModule[]): SettingsSection[] {
  return [...new Set<SettingsSection>([...SERVER_SETTINGS, ...modules.flatMap((m) => m.settings ?? []), ...MEDIA_SETTINGS])];
}

export const CONFIG_KEYS = settingsOf(SOURCES).flatMap((s) => Object.keys(s.settings)) as Array<keyof Config & string>;

/**
 * The configuration for these sources: declared defaults, then CONFIG_FILE, then the environment, then
 * `overrides`. Every bad value is reported at once, by name (a ConfigError).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<string, unknown>> = {}, modules: readonly SourceModule[] = SOURCES): Config {
  return loadSettings(settingsOf(modules), env, overrides) as unknown as Config;
}

/** The media rules every module in `modules` declares, as one table. */
export function platformsOf(modules: readonly SourceModule[]): Platforms {
  return new Platforms(modules.flatMap((m) => Object.entries(m.media ?? {})));
}
