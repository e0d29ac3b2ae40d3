// The services list's and a service's instances' filters, applied in memory: the whole list is
// already here (one blocking read), so filtering thousands of entries costs a loop, not a request.

import { checksHealth } from './health.js';
import type { ServiceInstance, ServiceSummary } from './types.js';

export type StatusFilter = '' | 'passing' | 'warning' | 'critical';

export interface ServiceFilter {
  /** Case-insensitive substring of the name. */
  name: string;
  /** An exact tag, '' for any. */
  tag: string;
  /** Services with at least one check in this status, '' for any. */
  status: StatusFilter;
}

export function filterServices(list: readonly ServiceSummary[], f: ServiceFilter): ServiceSummary[] {
  const needle = f.name.trim().toLowerCase();
  return list.filter(
    (s) =>
      (needle === '' || s.Name.toLowerCase().includes(needle)) &&
      (f.tag === '' || (s.Tags ?? []).includes(f.tag)) &&
      (f.status === '' ||
        (f.status === 'passing' && s.ChecksPassing > 0) ||
        (f.status === 'warning' && s.ChecksWarning > 0) ||
        (f.status === 'critical' && s.ChecksCritical > 0)),
  );
}

/** Every tag of every service, sorted, for the tag filter's choices. */
export function allTags(list: readonly ServiceSummary[]): string[] {
  const set = new Set<string>();
  for (const s of list) for (const t of s.Tags ?? []) set.add(t);
  return [...set].sort();
}

export function parseStatus(s: string | null): StatusFilter {
  return s === 'passing' || s === 'warning' || s === 'critical' ? s : '';
}

export interface InstanceFilter {
  /** Case-insensitive substring of the instance's ID, its node's name or its address. */
  text: string;
  /** The instance's health (the worst of its checks), '' for any. */
  status: StatusFilter;
}

/** A service's instances that match the service page's filters, in the order the API gave them. */
export function filterInstances(list: readonly ServiceInstance[], f: InstanceFilter): ServiceInstance[] {
  const needle = f.text.trim().toLowerCase();
  return list.filter((i) => {
    if (f.status !== '' && checksHealth(i.Checks) !== f.status) return false;
    if (needle === '') return true;
    const address = i.Service.Address !== '' ? i.Service.Address : i.Node.Address;
    return [i.Service.ID, i.Node.Node, address].some((s) => s.toLowerCase().includes(needle));
  });
}
