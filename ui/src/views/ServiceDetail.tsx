// One service: each instance with its node, address, port, tags, meta and every check (the
// service's own and its node's) with status and output. Live through /v1/health/service/:name.
// Instances are cards of varying height, so a long list is paged rather than windowed: the first
// INSTANCES_PAGE that match the filters, and a button for the next ones.

import { useState } from 'preact/hooks';
import { seg } from '../api.js';
import { useBlocking } from '../blocking.js';
import { filterInstances, type StatusFilter } from '../filter.js';
import { checksHealth, countByStatus } from '../health.js';
import { routePath } from '../router.js';
import type { HealthCheck, ServiceInstance } from '../types.js';
import { ErrorBox, Loading, MetaList, PageTitle, StatusSelect, Tags } from '../components/Common.js';
import { StatusBadge, StatusCounts } from '../components/Status.js';

/** Instance cards rendered at first, and added by each "Show more". */
export const INSTANCES_PAGE = 100;

export function ServiceDetail({ dc, name }: { dc: string; name: string }) {
  const { data, error, loading } = useBlocking<ServiceInstance[]>(`/v1/health/service/${seg(name)}`, {
    dc,
  });
  const [text, setText] = useState('');
  const [status, setStatus] = useState<StatusFilter>('');
  const [limit, setLimit] = useState(INSTANCES_PAGE);
  const instances = data ?? [];
  const all = instances.flatMap((i) => i.Checks ?? []);
  const counts = countByStatus(all);
  const shown = filterInstances(instances, { text, status });
  const more = Math.min(INSTANCES_PAGE, shown.length - limit);
  return (
    <section aria-labelledby="page-title">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href={routePath({ kind: 'services', dc })}>Services</a>
      </nav>
      <PageTitle title={name}>{name}</PageTitle>
      <ErrorBox error={error} what={`service ${name}`} />
      {data === null ? (
        <Loading what="instances" retrying={!loading} />
      ) : instances.length === 0 ? (
        <p>This service has no instances in {dc}.</p>
      ) : (
        <>
          <p class="summary">
            {instances.length} {instances.length === 1 ? 'instance' : 'instances'} ·{' '}
            <StatusCounts {...counts} />
          </p>
          <h2>Instances</h2>
          <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
            <label>
              Instance
              <input
                type="search"
                value={text}
                placeholder="ID, node or address"
                onInput={(e) => {
                  setText(e.currentTarget.value);
                  setLimit(INSTANCES_PAGE);
                }}
              />
            </label>
            <StatusSelect
              value={status}
              onChange={(v) => {
                setStatus(v);
                setLimit(INSTANCES_PAGE);
              }}
            />
          </form>
          {shown.length === 0 ? (
            <p>No instances match.</p>
          ) : (
            <>
              <ul class="cards">
                {shown.slice(0, limit).map((i) => (
                  <Instance key={`${i.Node.Node}/${i.Service.ID}`} dc={dc} inst={i} />
                ))}
              </ul>
              {more > 0 ? (
                <p class="more" data-testid="instances-more">
                  Showing {limit} of {shown.length}.{' '}
                  <button type="button" onClick={() => setLimit(limit + INSTANCES_PAGE)}>
                    Show {more} more
                  </button>
                </p>
              ) : null}
            </>
          )}
        </>
      )}
    </section>
  );
}

function Instance({ dc, inst }: { dc: string; inst: ServiceInstance }) {
  const s = inst.Service;
  const address = s.Address !== '' ? s.Address : inst.Node.Address;
  const checks = inst.Checks ?? [];
  return (
    <li class="card" data-instance={s.ID}>
      <h3>
        {s.ID} <StatusBadge status={checksHealth(checks)} />
      </h3>
      <dl class="facts">
        <div>
          <dt>Node</dt>
          <dd>
            <a href={routePath({ kind: 'node', dc, node: inst.Node.Node })}>{inst.Node.Node}</a>
          </dd>
        </div>
        <div>
          <dt>Address</dt>
          <dd>
            <code>
              {address}
              {s.Port > 0 ? `:${s.Port}` : ''}
            </code>
          </dd>
        </div>
        <div>
          <dt>Tags</dt>
          <dd>
            <Tags tags={s.Tags} />
          </dd>
        </div>
        <div>
          <dt>Meta</dt>
          <dd>
            <MetaList meta={s.Meta} label={`Meta of ${s.ID}`} />
          </dd>
        </div>
      </dl>
      <ChecksTable checks={checks} caption={`Checks of ${s.ID}`} />
    </li>
  );
}

export function ChecksTable({ checks, caption }: { checks: HealthCheck[]; caption: string }) {
  if (checks.length === 0) return <p class="muted">No checks.</p>;
  return (
    <table class="checks">
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Check</th>
          <th scope="col">Status</th>
          <th scope="col">Kind</th>
          <th scope="col">Output</th>
        </tr>
      </thead>
      <tbody>
        {checks.map((c) => (
          <tr key={c.CheckID} data-check={c.CheckID}>
            <th scope="row">
              {c.Name}
              <div class="muted small">{c.CheckID}</div>
            </th>
            <td>
              <StatusBadge status={c.Status} />
            </td>
            <td>{c.ServiceID === '' ? 'node' : 'service'}</td>
            <td>
              {c.Output.trim() === '' ? (
                <span class="muted">no output</span>
              ) : (
                <pre class="output">{c.Output}</pre>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
