// The frame around every page: skip link, navigation, the datacenter switcher, and the banner that
// says when the datacenter has no leader (the one failure that explains every other error).

import type { ComponentChildren } from 'preact';
import { leaderless } from '../api.js';
import { inDatacenter, navigate, routePath, sectionOf, type Route, type Section } from '../router.js';
import { useStore } from '../store.js';

const NAV: [Section, string][] = [
  ['services', 'Services'],
  ['nodes', 'Nodes'],
  ['kv', 'Key/Value'],
];

export function Layout({
  route,
  dc,
  datacenters,
  children,
}: {
  route: Route;
  dc: string;
  datacenters: string[];
  children: ComponentChildren;
}) {
  const noLeader = useStore(leaderless).has(dc);
  const current = sectionOf(route);
  // The DC in the URL may not be in the list yet (still loading) or at all (a typo): keep it.
  const dcs = datacenters.includes(dc) ? datacenters : [dc, ...datacenters];
  const href = (s: Section): string =>
    routePath(s === 'kv' ? { kind: 'kv', dc, prefix: '' } : { kind: s, dc });
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={routePath({ kind: 'services', dc })}>
          Consulate
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([s, label]) => (
              <li key={s}>
                <a href={href(s)} aria-current={current === s ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="tools">
          <label class="dc">
            Datacenter
            <select
              value={dc}
              data-testid="dc-switcher"
              onChange={(e) => navigate(routePath(inDatacenter(route, e.currentTarget.value)))}
            >
              {dcs.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
          <a
            href={routePath({ kind: 'settings', dc })}
            aria-current={current === 'settings' ? 'page' : undefined}
          >
            Settings
          </a>
        </div>
      </header>
      {noLeader ? (
        <div class="banner" role="alert" data-testid="no-leader">
          <strong>No cluster leader in {dc}.</strong> Its servers are electing one or have lost quorum: reads
          may fail or be out of date, and writes are refused until a leader is elected. This page keeps
          trying.
        </div>
      ) : null}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
