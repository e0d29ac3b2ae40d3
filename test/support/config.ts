// An agent config from a config-file object, through the loader and the checks an agent runs at
// start (a refused value throws as it would stop the agent).

import { defaultConfig, validateConfig, type AgentConfig } from '../../src/config/config.js';
import { applyConfigObject } from '../../src/config/load.js';

export function configWith(obj: unknown): AgentConfig {
  const c = defaultConfig();
  c.nodeName = 'n1';
  c.dataDir = '/tmp/unused';
  applyConfigObject(c, obj, 'test');
  validateConfig(c);
  return c;
}
