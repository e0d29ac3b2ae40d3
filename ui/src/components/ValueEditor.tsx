// The value textarea with its text/JSON switch. In JSON mode the value is checked as it is typed
// and the form cannot be saved while it does not parse: a broken config never reaches the store.

import { jsonError } from '../kv.js';

export interface ValueEditorProps {
  id: string;
  value: string;
  json: boolean;
  readOnly?: boolean;
  onValue: (v: string) => void;
  onJson: (json: boolean) => void;
}

export function ValueEditor({ id, value, json, readOnly, onValue, onJson }: ValueEditorProps) {
  const problem = json ? jsonError(value) : null;
  const errId = `${id}-json-error`;
  return (
    <div class="value-editor">
      <div class="row">
        <label for={id}>Value</label>
        <label class="inline">
          <input
            type="checkbox"
            checked={json}
            disabled={readOnly}
            onChange={(e) => onJson(e.currentTarget.checked)}
          />{' '}
          JSON
        </label>
        {json && problem === null && !readOnly ? (
          <button type="button" class="secondary" onClick={() => onValue(format(value))}>
            Format JSON
          </button>
        ) : null}
      </div>
      <textarea
        id={id}
        name="value"
        rows={12}
        spellcheck={false}
        value={value}
        readOnly={readOnly}
        aria-invalid={problem !== null}
        aria-describedby={problem !== null ? errId : undefined}
        onInput={(e) => onValue(e.currentTarget.value)}
      />
      {problem !== null ? (
        <p id={errId} class="field-error" role="alert">
          Not valid JSON: {problem}
        </p>
      ) : null}
    </div>
  );
}

function format(v: string): string {
  return JSON.stringify(JSON.parse(v), null, 2);
}

/** Whether a value looks like JSON worth editing as such (an object or an array that parses). */
export function looksLikeJson(v: string): boolean {
  const t = v.trim();
  return (t.startsWith('{') || t.startsWith('[')) && jsonError(t) === null;
}

/** Saving is allowed unless JSON mode holds something that does not parse. */
export function canSave(value: string, json: boolean): boolean {
  return !json || jsonError(value) === null;
}
