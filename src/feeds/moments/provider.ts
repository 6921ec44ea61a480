import type { MomentsPost } from './post.js';

export interface TimelineQuery {
  /** Only these authors (wxids); everyone the provider can see when empty. */
  usernames: string[];
  keyword?: string;
  /** Pages to walk (the provider's own page size). */
  pages: number;
  /** Posts feedgate already keeps: a provider may skip per-post detail calls for them. */
  known(id: string): Promise<boolean>;
}

/** Where Moments come from: WeFlow's local API (seed 001) or E云 (seed 003). Newest first, ids unique. */
export interface MomentsProvider {
  readonly name: string;
  timeline(q: TimelineQuery, signal?: AbortSignal): Promise<MomentsPost[]>;
  /** Everyone with posts the provider can see, when it can list them. */
  usernames?(signal?: AbortSignal): Promise<string[]>;
}
