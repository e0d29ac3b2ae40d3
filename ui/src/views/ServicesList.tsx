// Every service of the datacenter with its health counts, filtered in memory by name, tag and
// status. The list is live (a blocking read of /v1/internal/ui/services).

import { useMemo, useRef, useState } from 'preact/hooks';
import { useBlocking } from '../blocking.js';
import { allTags, filterServices, parseStatus, type ServiceFilter } from '../filter.js';
import { summaryHealth } from '../health.js';
import { routePath } from '../router.js';
import type { ServiceSummary } from '../types.js';
import { ErrorBox, Loading, PageTitle, StatusSelect } from '../components/Common.js';
import { StatusBadge, StatusCounts } from '../components/Status.js';
import { SpacerRow } from '../components/SpacerRow.js';
import { useRowWindow } from '../components/rowWindow.js';

/** Tags shown in a row before "+N more": rows stay one line high with many tags. */
const ROW_TAGS = 4;

function readFilter(): ServiceFilter {
  const q = new URLSearchParams(location.search);
  return { name: q.get('filter') ?? '', tag: q.get('tag') ?? '', status: parseStatus(q.get('status')) };
}

/** The filter goes into the URL (replaced, not pushed) so a reload or a shared link keeps it. */
function writeFilter(f: ServiceFilter): void {
  const q = new URLSearchParams();
  if (f.name !== '') q.set('filter', f.name);
  if (f.tag !== '') q.set('tag', f.tag);
  if (f.status !== '') q.set('status', f.status);
  const qs = q.toString();
  history.replaceState(null, '', location.pathname + (qs === '' ? '' : `?${qs}`));
}

export function ServicesList({ dc }: { dc: string }) {
  const { data, error, loading } = useBlocking<ServiceSummary[]>('/v1/internal/ui/services', { dc });
  const [filter, setFilterState] = useState<ServiceFilter>(readFilter);
  const setFilter = (f: ServiceFilter): void => {
    setFilterState(f);
    writeFilter(f);
  };
  const list = useMemo(() => data ?? [], [data]);
  const tags = useMemo(() => allTags(list), [list]);
  const shown = useMemo(() => filterServices(list, filter), [list, filter]);

  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Services">Services</PageTitle>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name
          <input
            type="search"
            value={filter.name}
            placeholder="Filter by name"
            onInput={(e) => setFilter({ ...filter, name: e.currentTarget.value })}
          />
        </label>
        <label>
          Tag
          <select value={filter.tag} onChange={(e) => setFilter({ ...filter, tag: e.currentTarget.value })}>
            <option value="">Any tag</option>
            {tags.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <StatusSelect has value={filter.status} onChange={(status) => setFilter({ ...filter, status })} />
      </form>
      <ErrorBox error={error} what="services" />
      {data === null ? (
        <Loading what="services" retrying={!loading} />
      ) : (
        <>
          <p class="muted" role="status" aria-live="polite">
            {shown.length === list.length
              ? `${list.length} services`
              : `${shown.length} of ${list.length} services`}
          </p>
          <ServiceTable dc={dc} services={shown} />
        </>
      )}
    </section>
  );
}

const COLUMNS = 5;

function ServiceTable({ dc, services }: { dc: string; services: ServiceSummary[] }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const win = useRowWindow(services.length, body);
  if (services.length === 0) return <p>No services match.</p>;
  return (
    <table class="list windowed services" data-testid="services-table" aria-rowcount={services.length + 1}>
      <thead>
        <tr aria-rowindex={1}>
          <th scope="col">Service</th>
          <th scope="col">Health</th>
          <th scope="col">Checks</th>
          <th scope="col">Instances</th>
          <th scope="col">Tags</th>
        </tr>
      </thead>
      <tbody ref={body}>
        <SpacerRow px={win.before} columns={COLUMNS} />
        {services.slice(win.start, win.end).map((s, i) => (
          <ServiceRow key={s.Name} dc={dc} s={s} row={win.start + i + 2} />
        ))}
        <SpacerRow px={win.after} columns={COLUMNS} />
      </tbody>
    </table>
  );
}

/** `row`: the row's 1-based index in the whole table (header included), for assistive tech. */
function ServiceRow({ dc, s, row }: { dc: string; s: ServiceSummary; row: number }) {
  const tags = s.Tags ?? [];
  return (
    <tr data-service={s.Name} data-row aria-rowindex={row}>
      <th scope="row" title={s.Name}>
        <a href={routePath({ kind: 'service', dc, name: s.Name })}>{s.Name}</a>
      </th>
      <td>
        <StatusBadge status={summaryHealth(s)} />
      </td>
      <td>
        <StatusCounts passing={s.ChecksPassing} warning={s.ChecksWarning} critical={s.ChecksCritical} />
      </td>
      <td class="num">{s.InstanceCount}</td>
      <td>
        {tags.length === 0 ? null : (
          <span class="tags-inline">
            {tags.slice(0, ROW_TAGS).map((t) => (
              <span key={t} class="tag">
                {t}
              </span>
            ))}
            {tags.length > ROW_TAGS ? <span class="muted"> +{tags.length - ROW_TAGS} more</span> : null}
          </span>
        )}
      </td>
    </tr>
  );
}
