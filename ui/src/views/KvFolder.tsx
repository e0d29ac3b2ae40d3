// A KV folder: its sub-folders and keys (a live ?keys&separator=/ read), a form to create a key or
// a folder in it, and deletes (a folder with everything under it, through ?recurse).

import { useState } from 'preact/hooks';
import { apiWrite, kvPath } from '../api.js';
import { useBlocking } from '../blocking.js';
import { kvItems, parentPrefixes } from '../kv.js';
import { navigate, routePath } from '../router.js';
import { ErrorBox, Loading, PageTitle } from '../components/Common.js';
import { ConfirmButton } from '../components/ConfirmButton.js';
import { canSave, ValueEditor } from '../components/ValueEditor.js';

export function KvFolder({ dc, prefix }: { dc: string; prefix: string }) {
  const { data, error, loading } = useBlocking<string[]>(kvPath(prefix), {
    dc,
    query: { keys: true, separator: '/' },
    notFoundIsEmpty: true,
  });
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const items = kvItems(prefix, data ?? []);
  const title = prefix === '' ? 'Key/Value' : prefix;

  const remove = async (path: string, folder: boolean): Promise<void> => {
    try {
      await apiWrite('DELETE', kvPath(path), { dc, query: { recurse: folder } });
      setNotice({ ok: true, text: `Deleted ${folder ? 'folder' : 'key'} ${path}` });
    } catch (err) {
      setNotice({ ok: false, text: `Could not delete ${path}: ${String(err)}` });
    }
  };

  return (
    <section aria-labelledby="page-title">
      <Breadcrumbs dc={dc} prefix={prefix} />
      <PageTitle title={title}>{title}</PageTitle>
      {notice ? (
        <p class={notice.ok ? 'notice' : 'error'} role={notice.ok ? 'status' : 'alert'}>
          {notice.text}
        </p>
      ) : null}
      <ErrorBox error={error} what="keys" />
      {data === null ? (
        <Loading what="keys" retrying={!loading} />
      ) : items.length === 0 ? (
        <p>{prefix === '' ? 'There are no keys yet.' : 'This folder is empty.'}</p>
      ) : (
        <table class="list" data-testid="kv-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((it) => (
              <tr key={it.path} data-key={it.path}>
                <th scope="row">
                  <a
                    href={routePath(
                      it.folder ? { kind: 'kv', dc, prefix: it.path } : { kind: 'kv-edit', dc, key: it.path },
                    )}
                  >
                    {it.folder ? <FolderIcon /> : null}
                    {it.name}
                  </a>
                </th>
                <td>{it.folder ? 'folder' : 'key'}</td>
                <td class="actions">
                  <ConfirmButton
                    label={`Delete ${it.folder ? 'folder' : 'key'} ${it.name}`}
                    confirmLabel={it.folder ? 'Delete folder and all its keys' : 'Delete key'}
                    onConfirm={() => void remove(it.path, it.folder)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <CreateKey dc={dc} prefix={prefix} onDone={setNotice} />
      {prefix !== '' ? (
        <p>
          <ConfirmButton
            label="Delete this folder"
            confirmLabel={`Delete ${prefix} and every key under it`}
            onConfirm={() =>
              void remove(prefix, true).then(() =>
                navigate(routePath({ kind: 'kv', dc, prefix: parentPrefixes(prefix).at(-2) ?? '' })),
              )
            }
          />
        </p>
      ) : null}
    </section>
  );
}

export function Breadcrumbs({ dc, prefix }: { dc: string; prefix: string }) {
  const parents = parentPrefixes(prefix);
  return (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href={routePath({ kind: 'kv', dc, prefix: '' })}>Key/Value</a>
      {parents.map((p) => (
        <span key={p}>
          {' / '}
          <a href={routePath({ kind: 'kv', dc, prefix: p })}>{p.slice(0, -1).split('/').at(-1)}</a>
        </span>
      ))}
    </nav>
  );
}

function FolderIcon() {
  return (
    <svg class="icon folder" viewBox="0 0 16 16" aria-hidden="true">
      <path d="M1 3.5h5l1.5 1.5H15v8.5H1z" />
    </svg>
  );
}

/**
 * Creates a key (or, with a name ending in '/', a folder) only if nothing is there yet: the PUT
 * carries ?cas=0, so a key someone else created meanwhile is reported, not overwritten.
 */
function CreateKey({
  dc,
  prefix,
  onDone,
}: {
  dc: string;
  prefix: string;
  onDone: (n: { ok: boolean; text: string }) => void;
}) {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [json, setJson] = useState(false);
  const [busy, setBusy] = useState(false);
  const folder = name.endsWith('/');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const key = prefix + name;
    setBusy(true);
    try {
      const ok = await apiWrite('PUT', kvPath(key), { dc, query: { cas: 0 }, body: folder ? '' : value });
      if (ok === true) {
        onDone({ ok: true, text: `Created ${folder ? 'folder' : 'key'} ${key}` });
        setName('');
        setValue('');
      } else onDone({ ok: false, text: `${key} already exists: nothing was changed.` });
    } catch (err) {
      onDone({ ok: false, text: `Could not create ${key}: ${String(err)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="create" onSubmit={(e) => void submit(e)} aria-labelledby="create-title">
      <h2 id="create-title">Create a key</h2>
      <label>
        Name {prefix !== '' ? <span class="muted">(in {prefix})</span> : null}
        <input
          name="key"
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          aria-describedby="create-hint"
        />
      </label>
      <p id="create-hint" class="muted small">
        End the name with / to create a folder.
      </p>
      {folder ? null : (
        <ValueEditor id="create-value" value={value} json={json} onValue={setValue} onJson={setJson} />
      )}
      <button type="submit" disabled={busy || name === '' || (!folder && !canSave(value, json))}>
        {folder ? 'Create folder' : 'Create key'}
      </button>
    </form>
  );
}
