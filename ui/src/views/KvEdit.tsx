// One key: view and edit its value with check-and-set. The page remembers the ModifyIndex it
// loaded; a save sends ?cas=<it>, and a `false` answer means someone changed (or deleted) the key
// meanwhile: the page then shows their value and lets the user choose, instead of overwriting.

import { useEffect, useState } from 'preact/hooks';
import { apiGet, apiWrite, kvPath } from '../api.js';
import { decodeValue, folderOf } from '../kv.js';
import { navigate, routePath } from '../router.js';
import type { KvEntry } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../components/Common.js';
import { ConfirmButton } from '../components/ConfirmButton.js';
import { canSave, looksLikeJson, ValueEditor } from '../components/ValueEditor.js';
import { Breadcrumbs } from './KvFolder.js';

type Loaded = { entry: KvEntry | null };

/** What the server holds now; entry null when the key is gone. */
async function load(dc: string, key: string, signal?: AbortSignal): Promise<Loaded> {
  const r = await apiGet<KvEntry[]>(kvPath(key), {
    dc,
    notFoundIsEmpty: true,
    ...(signal ? { signal } : {}),
  });
  return { entry: r.data?.[0] ?? null };
}

export function KvEdit({ dc, keyName }: { dc: string; keyName: string }) {
  const [base, setBase] = useState<KvEntry | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [value, setValue] = useState('');
  const [json, setJson] = useState(false);
  const [binary, setBinary] = useState(false);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  /** Set when a save or delete lost a race: what the key holds now (null: deleted). */
  const [conflict, setConflict] = useState<{ theirs: KvEntry | null } | null>(null);

  const adopt = (entry: KvEntry | null): void => {
    const d = decodeValue(entry?.Value ?? null);
    setBase(entry);
    setValue(d.text);
    setBinary(d.binary);
    setJson(!d.binary && looksLikeJson(d.text));
  };

  useEffect(() => {
    const ctl = new AbortController();
    setBase(undefined);
    setConflict(null);
    setNotice(null);
    load(dc, keyName, ctl.signal).then(
      (l) => adopt(l.entry),
      (err) => {
        if (!ctl.signal.aborted) setError(err);
      },
    );
    return () => ctl.abort();
  }, [dc, keyName]);

  const folder = folderOf(keyName);
  const header = (
    <>
      <Breadcrumbs dc={dc} prefix={folder} />
      <PageTitle title={keyName}>{keyName}</PageTitle>
    </>
  );
  if (base === undefined)
    return (
      <section aria-labelledby="page-title">
        {header}
        <ErrorBox error={error} what="the key" />
        {error === null ? <Loading what="the key" /> : null}
      </section>
    );
  if (base === null && conflict === null)
    return (
      <section aria-labelledby="page-title">
        {header}
        <p>
          There is no key {keyName} in {dc}.{' '}
          <a href={routePath({ kind: 'kv', dc, prefix: folder })}>Back to the folder</a>
        </p>
      </section>
    );

  /** PUT with ?cas=`index` (0: only if absent); on `false`, load what won and show it. */
  const save = async (index: number): Promise<void> => {
    setBusy(true);
    setNotice(null);
    try {
      const ok = await apiWrite('PUT', kvPath(keyName), { dc, query: { cas: index }, body: value });
      const now = await load(dc, keyName);
      if (ok === true) {
        setConflict(null);
        setBase(now.entry);
        setNotice('Saved.');
      } else setConflict({ theirs: now.entry });
    } catch (err) {
      setNotice(`Could not save: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const remove = async (): Promise<void> => {
    setBusy(true);
    try {
      const ok = await apiWrite('DELETE', kvPath(keyName), {
        dc,
        query: { cas: base?.ModifyIndex ?? 0 },
      });
      if (ok === true) navigate(routePath({ kind: 'kv', dc, prefix: folder }));
      else setConflict({ theirs: (await load(dc, keyName)).entry });
    } catch (err) {
      setNotice(`Could not delete: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const theirs = conflict ? decodeValue(conflict.theirs?.Value ?? null) : null;
  return (
    <section aria-labelledby="page-title">
      {header}
      {conflict ? (
        <div class="conflict" role="alert" data-testid="kv-conflict">
          <h2>Changed by someone else</h2>
          {conflict.theirs === null ? (
            <p>This key was deleted since you opened it. Your changes were not saved.</p>
          ) : (
            <>
              <p>
                This key was changed since you opened it (now at index {conflict.theirs.ModifyIndex}). Your
                changes were not saved. Its value now:
              </p>
              <pre class="theirs" data-testid="kv-theirs">
                {theirs?.text}
              </pre>
            </>
          )}
          <div class="buttons">
            <button
              type="button"
              disabled={busy || !canSave(value, json)}
              onClick={() => void save(conflict.theirs?.ModifyIndex ?? 0)}
            >
              Save mine over it
            </button>
            <button
              type="button"
              class="secondary"
              disabled={busy}
              onClick={() => {
                if (conflict.theirs === null) navigate(routePath({ kind: 'kv', dc, prefix: folder }));
                else {
                  adopt(conflict.theirs);
                  setConflict(null);
                }
              }}
            >
              {conflict.theirs === null ? 'Discard mine' : 'Discard mine, load theirs'}
            </button>
          </div>
        </div>
      ) : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      {base ? (
        <p class="muted small">
          Modify index {base.ModifyIndex} · flags {base.Flags}
          {base.Session ? ` · locked by session ${base.Session}` : ''}
        </p>
      ) : null}
      {binary ? (
        <p class="notice">This value is not UTF-8 text; it is shown as base64 and cannot be edited here.</p>
      ) : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save(base?.ModifyIndex ?? 0);
        }}
      >
        <ValueEditor
          id="kv-value"
          value={value}
          json={json}
          readOnly={binary}
          onValue={setValue}
          onJson={setJson}
        />
        <div class="buttons">
          <button type="submit" disabled={busy || binary || conflict !== null || !canSave(value, json)}>
            Save
          </button>
          <a class="button secondary" href={routePath({ kind: 'kv', dc, prefix: folder })}>
            Cancel
          </a>
          <ConfirmButton
            label="Delete"
            confirmLabel="Delete this key"
            disabled={busy}
            onConfirm={() => void remove()}
          />
        </div>
      </form>
    </section>
  );
}
