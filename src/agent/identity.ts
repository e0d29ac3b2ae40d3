// The node ID: from config, else the one kept in the data dir, else a new one written there. The ID
// is what makes a node itself across restarts and address changes (Raft membership, gossip names).

import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../config/config.js';
import { ConsulError, ErrorCode } from '../core/errors.js';

export async function loadNodeId(c: AgentConfig): Promise<string> {
  if (c.dev) return c.nodeId || randomUUID();
  const file = join(c.dataDir, 'node-id');
  let stored = '';
  try {
    stored = (await readFile(file, 'utf8')).trim();
  } catch {
    /* first start */
  }
  if (stored && c.nodeId && stored !== c.nodeId) {
    throw new ConsulError(ErrorCode.Config, `node_id ${c.nodeId} differs from ${stored} kept in ${file}`);
  }
  const id = stored || c.nodeId || randomUUID();
  if (!stored) {
    await writeFile(`${file}.tmp`, id, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }
  return id;
}
