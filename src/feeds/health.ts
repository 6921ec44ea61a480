import type { Alert, AlertTarget } from '../alerts/targets.js';
import { UpstreamError } from '../http/errors.js';
import type { MessageKey, Texts } from '../i18n/index.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { HealthEvent, HealthReport, HealthRow, SourceHealthStore } from '../store/source-health.js';

/** A check a source runs on its own (MP: credentials about to expire), by account. */
export type HealthWatch = (now: number) => Promise<Array<{ account: string } & HealthReport>>;

/**
 * What an upstream failure says of its source: a state, and the setting it names (errors say which to
 * check). Undefined for what says nothing of the source: a client gone, the database away, our own faults.
 */
export function healthOf(err: unknown, settings: ReadonlySet<string>): HealthReport | undefined {
  if (!(err instanceof UpstreamError) || err.kind === 'aborted' || err.upstream === 'database') return undefined;
  const setting = (err.message.match(/\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/g) ?? []).find((s) => settings.has(s)) ?? '';
  const code = err.code;
  const state: HealthReport['state'] = /CAPTCHA|BLOCKED|VERIFY/.test(code)
    ? 'blocked'
    : err.kind === 'auth' || /CREDENTIALS|UNAUTHORI[SZ]ED|FORBIDDEN|TOKEN/.test(code)
      ? 'credentials_expired'
      : err.kind === 'rate_limited'
        ? 'rate_limited'
        : err.kind === 'bad_response'
          ? 'changed_shape'
          : 'unreachable';
  return { state, message: err.message, setting };
}

export interface SourceHealthOptions {
  store: SourceHealthStore;
  targets: readonly AlertTarget[];
  texts: Texts;
  logger: Logger;
  /** A state that lasts is said again after this long (0: never). */
  repeatMs: number;
  metrics?: Metrics;
  /** Titles of the sources, for alerts. */
  titles: Readonly<Record<string, string>>;
  now?: () => number;
}

/**
 * Records each source's and account's health as loads and checks find it, and alerts every change once
 * (across replicas: the store lets one caller claim it), with a reminder while a bad state lasts. Never
 * in the way of a feed: reports and alerts run in the background and never throw.
 */
export class SourceHealth {
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private pending = new Set<Promise<unknown>>();

  constructor(private readonly opts: SourceHealthOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** What a load (or a check) found for `source` and `account` (empty: the source as a whole). */
  report(source: string, account: string, r: HealthReport): void {
    this.track(
      this.opts.store
        .report(source, account, r, this.now())
        .then((event) => event && this.changed(event))
        .catch((err) => this.opts.logger.warn({ source, err: (err as Error)?.message }, 'a health state could not be recorded')),
    );
  }

  /** Resolves when every report and alert under way has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Runs the sources' own checks and the reminders every `everyMs`, from now on. */
  start(watches: ReadonlyArray<{ source: string; watch: HealthWatch }>, everyMs = 60_000): void {
    const tick = () => {
      this.track(this.tick(watches).catch((err) => this.opts.logger.warn({ err: (err as Error)?.message }, 'health checks failed')));
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async tick(watches: ReadonlyArray<{ source: string; watch: HealthWatch }>): Promise<void> {
    const now = this.now();
    for (const { source, watch } of watches) {
      for (const r of await watch(now)) this.report(source, r.account, r);
    }
    if (this.opts.repeatMs > 0) {
      for (const row of await this.opts.store.unalerted(now - this.opts.repeatMs)) {
        // A change not alerted yet is being alerted now (changed()); reminders follow a sent alert.
        if (row.alertedAt === undefined) continue;
        if (await this.opts.store.claimAlert(row.source, row.account, row.state, now - this.opts.repeatMs, now)) await this.send(this.alertOf(row, true));
      }
    }
  }

  private async changed(e: HealthEvent): Promise<void> {
    if (!(await this.opts.store.claimAlert(e.source, e.account, e.to, null, this.now()))) return;
    await this.send(this.alertOf({ source: e.source, account: e.account, state: e.to, since: e.at, message: e.message, setting: e.setting }, false, e.from));
  }

  alertOf(row: Pick<HealthRow, 'source' | 'account' | 'state' | 'since' | 'message' | 'setting'>, reminder: boolean, from: string = row.state): Alert {
    const { t } = this.opts.texts;
    const state = t(`health.state.${row.state}` as MessageKey);
    const title = t('health.alert.title', { source: this.opts.titles[row.source] ?? row.source, account: row.account ? ` (${row.account})` : '', state });
    const lines = [reminder ? t('health.alert.reminder', { state, since: this.opts.texts.dateTime(row.since) }) : '', row.message, row.setting ? t('health.alert.fix', { setting: row.setting }) : ''];
    return { source: row.source, account: row.account, from, to: row.state, message: row.message, setting: row.setting, at: reminder ? this.now() : row.since, reminder, title, text: lines.filter(Boolean).join('\n') };
  }

  /** To every target, each tried three times (1 s, then 4 s apart); a target that still fails is logged. */
  private async send(alert: Alert): Promise<void> {
    await Promise.all(
      this.opts.targets.map(async (target) => {
        for (let attempt = 0; ; attempt++) {
          try {
            await target.send(alert);
            this.opts.metrics?.alerts.inc({ kind: alert.reminder ? 'reminder' : 'change', outcome: 'sent' });
            return;
          } catch (err) {
            if (attempt >= 2) {
              this.opts.metrics?.alerts.inc({ kind: alert.reminder ? 'reminder' : 'change', outcome: 'failed' });
              this.opts.logger.warn({ target: target.label, source: alert.source, err: (err as Error)?.message }, 'an alert could not be delivered');
              return;
            }
            await new Promise((r) => setTimeout(r, 1000 * 4 ** attempt));
          }
        }
      }),
    );
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
