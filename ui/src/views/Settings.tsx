// The ACL token, kept in this browser's localStorage and sent as X-Consul-Token. The field is a
// password input so the token is not on screen for anyone looking over a shoulder.

import { useState } from 'preact/hooks';
import { readToken, writeToken } from '../token.js';
import { PageTitle } from '../components/Common.js';

export function Settings() {
  const [token, setToken] = useState(readToken);
  const [saved, setSaved] = useState<string | null>(null);
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Settings">Settings</PageTitle>
      <form
        class="settings"
        onSubmit={(e) => {
          e.preventDefault();
          writeToken(token.trim());
          setSaved(token.trim() === '' ? 'Token cleared.' : 'Token saved in this browser.');
        }}
      >
        <label>
          ACL token
          <input
            type="password"
            name="token"
            autocomplete="off"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            aria-describedby="token-hint"
          />
        </label>
        <p id="token-hint" class="muted small">
          Sent as the X-Consul-Token header with every request the UI makes, never in a URL. It is stored in
          this browser only. ACLs are not enforced by this version of Consulate, so today the token changes
          nothing.
        </p>
        <div class="buttons">
          <button type="submit">Save</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setToken('');
              writeToken('');
              setSaved('Token cleared.');
            }}
          >
            Clear
          </button>
        </div>
        {saved ? (
          <p class="notice" role="status">
            {saved}
          </p>
        ) : null}
      </form>
    </section>
  );
}
