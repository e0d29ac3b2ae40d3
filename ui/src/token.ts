// The ACL token the user typed in Settings. It lives in localStorage (this browser only) and goes
// out as the X-Consul-Token header, never in a URL, so it stays out of logs and browser history.

const KEY = 'consulate:acl-token';

export function readToken(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    // Storage can be disabled (private modes, policies): the UI then runs without a token.
    return '';
  }
}

export function writeToken(token: string): void {
  try {
    if (token === '') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, token);
  } catch {
    // See readToken: nothing to keep it in.
  }
}
