// The UI's entry point: reads the agent's own datacenter and the list of datacenters, then renders
// the page the URL names. Every page below is a function of its route.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { apiGet } from './api.js';
import { interceptLinks, navigate, parseRoute, routePath, useLocation, type Route } from './router.js';
import { PageTitle } from './components/Common.js';
import { Layout } from './views/Layout.js';
import { ServicesList } from './views/ServicesList.js';
import { ServiceDetail } from './views/ServiceDetail.js';
import { NodesList } from './views/NodesList.js';
import { NodeDetail } from './views/NodeDetail.js';
import { KvFolder } from './views/KvFolder.js';
import { KvEdit } from './views/KvEdit.js';
import { Settings } from './views/Settings.js';

interface AgentSelf {
  Config: { Datacenter: string };
}

function Page({ route }: { route: Exclude<Route, { kind: 'root' }> }) {
  switch (route.kind) {
    case 'services':
      return <ServicesList dc={route.dc} />;
    case 'service':
      return <ServiceDetail key={route.name} dc={route.dc} name={route.name} />;
    case 'nodes':
      return <NodesList dc={route.dc} />;
    case 'node':
      return <NodeDetail key={route.node} dc={route.dc} node={route.node} />;
    case 'kv':
      return <KvFolder key={route.prefix} dc={route.dc} prefix={route.prefix} />;
    case 'kv-edit':
      return <KvEdit key={route.key} dc={route.dc} keyName={route.key} />;
    case 'settings':
      return <Settings />;
    case 'not-found':
      return (
        <section>
          <PageTitle title="Not found">Page not found</PageTitle>
          <p>
            <a href={routePath({ kind: 'services', dc: route.dc })}>Go to the services</a>
          </p>
        </section>
      );
  }
}

function App() {
  const loc = useLocation();
  const route = parseRoute(loc.pathname);
  const [localDc, setLocalDc] = useState<string | null>(null);
  const [datacenters, setDatacenters] = useState<string[]>([]);
  const [bootError, setBootError] = useState<string | null>(null);

  useEffect(() => {
    // /v1/agent/self is the agent's own; ?dc does not apply to it.
    apiGet<AgentSelf>('/v1/agent/self', { dc: '' }).then(
      (r) => setLocalDc(r.data?.Config.Datacenter ?? 'dc1'),
      (err) => setBootError(String(err)),
    );
  }, []);

  const viewDc = route.kind === 'root' ? localDc : route.dc;
  useEffect(() => {
    if (viewDc === null) return;
    // Nearest first, as the agent sorts them; read again with each switch (a DC may have joined).
    apiGet<string[]>('/v1/catalog/datacenters', { dc: '' }).then(
      (r) => setDatacenters(r.data ?? []),
      () => undefined,
    );
  }, [viewDc]);

  useEffect(() => {
    if (route.kind === 'root' && localDc !== null)
      navigate(routePath({ kind: 'services', dc: localDc }), true);
  }, [route.kind, localDc]);

  if (route.kind === 'root')
    return bootError ? (
      <p class="error" role="alert">
        Cannot reach the agent: {bootError}
      </p>
    ) : (
      <p class="muted" role="status">
        Loading…
      </p>
    );
  return (
    <Layout route={route} dc={route.dc} datacenters={datacenters}>
      <Page route={route} />
    </Layout>
  );
}

interceptLinks();
const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
