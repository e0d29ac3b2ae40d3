// Every node of the datacenter with its address, health and checks, and the Raft role of each
// server (leader, voter). Live through /v1/internal/ui/nodes; the Raft configuration is read again
// whenever the node list changes (a server that fails or joins changes both).

import { useMemo, useRef, useState } from 'preact/hooks';
import { useBlocking } from '../blocking.js';
import { checksHealth, countByStatus, nodeChecks } from '../health.js';
import { raftRoles, ROLE_LABEL, type RaftRole } from '../raft.js';
import { routePath } from '../router.js';
import type { NodeInfo, RaftConfiguration } from '../types.js';
import { ErrorBox, Loading, PageTitle, StatusSelect } from '../components/Common.js';
import type { StatusFilter } from '../filter.js';
import { StatusBadge, StatusCounts } from '../components/Status.js';
import { SpacerRow } from '../components/SpacerRow.js';
import { useRowWindow } from '../components/rowWindow.js';

export function NodesList({ dc }: { dc: string }) {
  const nodes = useBlocking<NodeInfo[]>('/v1/internal/ui/nodes', { dc });
  const raft = useBlocking<RaftConfiguration>('/v1/operator/raft/configuration', { dc }, nodes.index);
  const roles = useMemo(() => raftRoles(raft.data), [raft.data]);
  const leader = raft.data?.Servers.find((s) => s.Leader);
  const [name, setName] = useState('');
  const [status, setStatus] = useState<StatusFilter>('');
  const list = nodes.data ?? [];
  const body = useRef<HTMLTableSectionElement>(null);
  const shown = list.filter(
    (n) =>
      n.Node.toLowerCase().includes(name.trim().toLowerCase()) &&
      (status === '' || checksHealth(nodeChecks(n.Checks)) === status),
  );
  const win = useRowWindow(shown.length, body);
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Nodes">Nodes</PageTitle>
      <p class="leader" data-testid="leader">
        {raft.data === null ? (
          raft.error !== null ? (
            <span class="muted">Raft configuration unavailable.</span>
          ) : null
        ) : leader ? (
          <>
            Leader: <strong>{leader.Node}</strong> <code>{leader.Address}</code> ·{' '}
            {plural(raft.data.Servers.length, 'server')},{' '}
            {plural(raft.data.Servers.filter((s) => s.Voter).length, 'voter')}
          </>
        ) : (
          <StatusBadge status="critical" text="No leader" />
        )}
      </p>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Name
          <input
            type="search"
            value={name}
            placeholder="Filter by name"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <StatusSelect value={status} onChange={setStatus} />
      </form>
      <ErrorBox error={nodes.error} what="nodes" />
      {nodes.data === null ? (
        <Loading what="nodes" retrying={!nodes.loading} />
      ) : shown.length === 0 ? (
        <p>No nodes match.</p>
      ) : (
        <table class="list windowed nodes" data-testid="nodes-table" aria-rowcount={shown.length + 1}>
          <thead>
            <tr aria-rowindex={1}>
              <th scope="col">Node</th>
              <th scope="col">Health</th>
              <th scope="col">Address</th>
              <th scope="col">Datacenter</th>
              <th scope="col">Raft</th>
              <th scope="col">Services</th>
              <th scope="col">Checks</th>
            </tr>
          </thead>
          <tbody ref={body}>
            <SpacerRow px={win.before} columns={7} />
            {shown.slice(win.start, win.end).map((n, i) => (
              <NodeRow key={n.Node} dc={dc} n={n} role={roles.get(n.Node)} row={win.start + i + 2} />
            ))}
            <SpacerRow px={win.after} columns={7} />
          </tbody>
        </table>
      )}
    </section>
  );
}

function NodeRow({ dc, n, role, row }: { dc: string; n: NodeInfo; role: RaftRole | undefined; row: number }) {
  return (
    <tr data-node={n.Node} data-row aria-rowindex={row}>
      <th scope="row" title={n.Node}>
        <a href={routePath({ kind: 'node', dc, node: n.Node })}>{n.Node}</a>
      </th>
      <td>
        <StatusBadge status={checksHealth(nodeChecks(n.Checks))} />
      </td>
      <td>
        <code>{n.Address}</code>
      </td>
      <td>{n.Datacenter}</td>
      <td>{role ? <RoleBadge role={role} /> : <span class="muted">not a server</span>}</td>
      <td class="num">{(n.Services ?? []).length}</td>
      <td>
        <StatusCounts {...countByStatus(n.Checks)} />
      </td>
    </tr>
  );
}

export function RoleBadge({ role }: { role: RaftRole }) {
  return (
    <span class={`role role-${role}`} data-role={role}>
      {role === 'leader' ? '★ ' : ''}
      {ROLE_LABEL[role]}
    </span>
  );
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
