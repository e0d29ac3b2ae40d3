// A health check's definition as the agent holds it: parsed once from what a user gave (the HTTP
// API, a service definition or a config file), validated with Consul's messages, and turned back
// into the JSON Consul shows in HealthCheck.Definition and the agent persists.

import { badRequest } from '../../core/errors.js';

export type CheckKind = 'http' | 'tcp' | 'ttl' | 'script' | 'none';

export type InitialStatus = 'passing' | 'warning' | 'critical';

export interface CheckDefinition {
  /** Default: the Name; a service check defaults to "service:<serviceId>" (or ctx.defaultCheckId). */
  CheckID: string;
  Name: string;
  /** '' for a node-level check. */
  ServiceID: string;
  Notes: string;
  /** Initial status; default critical. */
  Status: InitialStatus;
  kind: CheckKind;
  HTTP: string;
  Method: string;
  Header: Record<string, string[]>;
  Body: string;
  TLSSkipVerify: boolean;
  TCP: string;
  /** Script checks: Args or ScriptArgs. */
  Args: string[];
  /** TTL checks. */
  TTLMs: number;
  /** http/tcp/script; required for them. */
  IntervalMs: number;
  /** Default 10 s (Consul's; 30 s for script checks, as Consul's script runner). */
  TimeoutMs: number;
  /** 0 = never. */
  DeregisterCriticalServiceAfterMs: number;
  /** Default 4096. */
  OutputMaxSize: number;
}

export interface ParseContext {
  serviceId?: string;
  defaultCheckId?: string;
}

/** Parses one check definition as Consul accepts it (PascalCase or snake_case keys). */
export function parseCheckDefinition(raw: unknown, ctx?: ParseContext): CheckDefinition {
  void raw;
  void ctx;
  throw badRequest('not implemented yet');
}

/** The JSON Consul puts in HealthCheck.Definition and what the agent persists. */
export function checkDefinitionJson(def: CheckDefinition): Record<string, unknown> {
  void def;
  return {};
}

/** HealthCheck.Type: 'http' | 'tcp' | 'ttl' | 'script' | '' like Consul. */
export function checkType(def: CheckDefinition): string {
  return def.kind === 'none' ? '' : def.kind;
}
