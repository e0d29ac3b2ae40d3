// One node: addresses, meta, its own checks, and the services it runs with their checks. Live
// through /v1/internal/ui/node/:node.

import { ApiError, seg } from '../api.js';
import { useBlocking } from '../blocking.js';
import { checksHealth, nodeChecks } from '../health.js';
import { raftRoles } from '../raft.js';
import { routePath } from '../router.js';
import type { NodeInfo, RaftConfiguration } from '../types.js';
import { ErrorBox, Loading, MetaList, PageTitle, Tags } from '../components/Common.js';
import { StatusBadge } from '../components/Status.js';
import { ChecksTable } from './ServiceDetail.js';
import { RoleBadge } from './NodesList.js';

export function NodeDetail({ dc, node }: { dc: string; node: string }) {
  const { data, error, loading, index } = useBlocking<NodeInfo>(`/v1/internal/ui/node/${seg(node)}`, {
    dc,
  });
  const raft = useBlocking<RaftConfiguration>('/v1/operator/raft/configuration', { dc }, index);
  const role = raftRoles(raft.data).get(node);
  const notFound = error instanceof ApiError && error.status === 404;
  const crumbs = (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href={routePath({ kind: 'nodes', dc })}>Nodes</a>
    </nav>
  );
  if (notFound || (loading && data === null) || data === null)
    return (
      <section aria-labelledby="page-title">
        {crumbs}
        <PageTitle title={node}>{node}</PageTitle>
        {notFound ? (
          <p>
            There is no node {node} in {dc}.
          </p>
        ) : (
          <ErrorBox error={error} what="node" />
        )}
        {loading ? <Loading what="node" /> : null}
      </section>
    );
  const own = nodeChecks(data.Checks);
  const services = data.Services ?? [];
  return (
    <section aria-labelledby="page-title">
      {crumbs}
      <PageTitle title={node}>
        {node} <StatusBadge status={checksHealth(own)} /> {role ? <RoleBadge role={role} /> : null}
      </PageTitle>
      <ErrorBox error={error} what="node" />
      <dl class="facts">
        <div>
          <dt>Address</dt>
          <dd>
            <code>{data.Address}</code>
          </dd>
        </div>
        <div>
          <dt>Datacenter</dt>
          <dd>{data.Datacenter}</dd>
        </div>
        <div>
          <dt>ID</dt>
          <dd>
            <code>{data.ID || '—'}</code>
          </dd>
        </div>
        <div>
          <dt>Tagged addresses</dt>
          <dd>
            <MetaList meta={data.TaggedAddresses} label="Tagged addresses" />
          </dd>
        </div>
        <div>
          <dt>Meta</dt>
          <dd>
            <MetaList meta={data.Meta} label="Node meta" />
          </dd>
        </div>
      </dl>
      <h2>Node checks</h2>
      <ChecksTable checks={own} caption={`Checks of node ${node}`} />
      <h2>Services</h2>
      {services.length === 0 ? (
        <p class="muted">No services on this node.</p>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Health</th>
              <th scope="col">ID</th>
              <th scope="col">Port</th>
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {services.map((s) => {
              const checks = (data.Checks ?? []).filter((c) => c.ServiceID === s.ID);
              return (
                <tr key={s.ID}>
                  <th scope="row">
                    <a href={routePath({ kind: 'service', dc, name: s.Service })}>{s.Service}</a>
                  </th>
                  <td>
                    <StatusBadge status={checksHealth(checks)} />
                  </td>
                  <td>
                    <code>{s.ID}</code>
                  </td>
                  <td class="num">{s.Port || '—'}</td>
                  <td>
                    <Tags tags={s.Tags} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
