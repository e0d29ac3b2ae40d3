// API registrations kept in the data dir, as Consul keeps them: `services/` and `checks/` with one
// JSON file per service or check (named by a hash of its ID, so any ID is a safe file name), and
// `checks/state/` with the last status and output of TTL checks and when that status expires.
// Config-file registrations are never written: they are read again at every start.
//
// Writes go to a temporary file renamed into place, so a crash leaves the old file or the new one.
// A file that cannot be read back is logged and skipped: a damaged registration must not keep the
// agent from starting.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CheckStatus } from '../../state/types.js';
import type { LocalCheck, LocalService } from './types.js';

export interface PersistedService {
  Service: LocalService;
}

export interface PersistedCheck {
  Check: LocalCheck;
  /** The check's definition as the checks module writes it (checkDefinitionJson); null: nothing runs it. */
  Definition: Record<string, unknown> | null;
}

export interface PersistedCheckState {
  CheckID: string;
  Status: CheckStatus;
  Output: string;
  /** Epoch milliseconds when this status runs out (the TTL counted from the last update). */
  Expires: number;
}

export interface Persisted {
  services: PersistedService[];
  checks: PersistedCheck[];
  states: Map<string, PersistedCheckState>;
}

const fileName = (id: string): string => createHash('sha256').update(id).digest('hex').slice(0, 32);

export class LocalStore {
  private readonly servicesDir: string;
  private readonly checksDir: string;
  private readonly stateDir: string;

  constructor(
    dataDir: string,
    private readonly logger: Logger,
  ) {
    this.servicesDir = join(dataDir, 'services');
    this.checksDir = join(dataDir, 'checks');
    this.stateDir = join(dataDir, 'checks', 'state');
  }

  saveService(s: LocalService): void {
    this.write(this.servicesDir, s.ID, { Service: s } satisfies PersistedService);
  }

  removeService(id: string): void {
    this.remove(this.servicesDir, id);
  }

  saveCheck(check: LocalCheck, def: Record<string, unknown> | null): void {
    this.write(this.checksDir, check.CheckID, { Check: check, Definition: def } satisfies PersistedCheck);
  }

  removeCheck(id: string): void {
    this.remove(this.checksDir, id);
    this.remove(this.stateDir, id);
  }

  saveCheckState(st: PersistedCheckState): void {
    this.write(this.stateDir, st.CheckID, st);
  }

  load(): Persisted {
    const out: Persisted = { services: [], checks: [], states: new Map() };
    for (const v of this.readAll(this.servicesDir)) {
      const s = (v as Partial<PersistedService>).Service;
      if (s && typeof s.ID === 'string' && typeof s.Service === 'string') out.services.push({ Service: s });
      else this.logger.warn('skipping a persisted service without ID or name');
    }
    for (const v of this.readAll(this.checksDir)) {
      const c = v as Partial<PersistedCheck>;
      if (c.Check && typeof c.Check.CheckID === 'string') {
        out.checks.push({ Check: c.Check, Definition: c.Definition ?? null });
      } else this.logger.warn('skipping a persisted check without an ID');
    }
    for (const v of this.readAll(this.stateDir)) {
      const st = v as Partial<PersistedCheckState>;
      const status = st.Status;
      const valid = status === 'passing' || status === 'warning' || status === 'critical';
      if (
        typeof st.CheckID === 'string' &&
        valid &&
        typeof st.Expires === 'number' &&
        Number.isFinite(st.Expires)
      ) {
        out.states.set(st.CheckID, {
          CheckID: st.CheckID,
          Status: status,
          Output: typeof st.Output === 'string' ? st.Output : '',
          Expires: st.Expires,
        });
      }
    }
    return out;
  }

  private write(dir: string, id: string, value: unknown): void {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, fileName(id));
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
      renameSync(tmp, file);
    } catch (err) {
      // The registration itself stands; only its survival across a restart is lost.
      this.logger.error({ err, id }, 'failed to persist a local registration');
    }
  }

  private remove(dir: string, id: string): void {
    try {
      rmSync(join(dir, fileName(id)), { force: true });
    } catch (err) {
      this.logger.error({ err, id }, 'failed to remove a persisted registration');
    }
  }

  private readAll(dir: string): unknown[] {
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isFile() && !d.name.endsWith('.tmp'))
        .map((d) => d.name);
    } catch {
      return [];
    }
    const out: unknown[] = [];
    for (const n of names) {
      try {
        const v = JSON.parse(readFileSync(join(dir, n), 'utf8')) as unknown;
        if (v !== null && typeof v === 'object') out.push(v);
      } catch (err) {
        this.logger.warn({ err, file: join(dir, n) }, 'skipping an unreadable persisted registration');
      }
    }
    return out;
  }
}
