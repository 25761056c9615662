// The plugin settings (SPEC §1.3): everyone reads them, ADMIN edits them.

import { html, useEffect, useRef, useState } from '../html.js';
import { graphql } from '../api.js';
import { SETTINGS, UPDATE_SETTINGS } from '../queries.js';
import { can, duration } from '../format.js';
import {
  Details, ErrorAlert, Field, Loading, Notice, PageHeading, Section, Time,
  focusFirstInvalid, otherFieldErrors, useSession,
} from '../components.js';

const SWITCHES = [
  ['imageFactoryEnabled', 'Image factory enabled', 'The master switch: no build can be queued while it is off.'],
  ['imageFactoryAllowIsoBuilds', 'Allow ISO builds', 'Builds of Proxmox ISO definitions may be queued.'],
  ['imageFactoryAllowCustomVariables', 'Allow custom variables', 'Builds may override the default variables.'],
];
const NUMBERS = [
  ['imageFactoryMaxConcurrentBuilds', 'Maximum concurrent builds', 'At most this many builds run at once, 1 to 1000.'],
  ['imageFactoryDefaultJobTimeout', 'Job timeout (seconds)', 'A build running longer fails, 60 to 604800.'],
];
const FIELDS = [...SWITCHES, ...NUMBERS].map(([name]) => name);

export function Settings() {
  const { me } = useSession();
  const [settings, setSettings] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    graphql(SETTINGS).then((data) => setSettings(data.pluginSettings)).catch(setError);
  }, []);

  return html`
    <${PageHeading} title="Plugin settings" />
    <${ErrorAlert} error=${error} title="The settings could not be loaded" />
    ${!settings && !error && html`<${Loading} what="Loading the settings" />`}
    ${settings && (can.editSettings(me.role)
      ? html`<${SettingsForm} settings=${settings} onSaved=${setSettings} />`
      : html`<${Section} id="settings" title="Image factory">
          <${Details} rows=${[
            ...SWITCHES.map(([name, text]) => [text, settings[name] ? 'Yes' : 'No']),
            [NUMBERS[0][1], settings.imageFactoryMaxConcurrentBuilds],
            ['Job timeout', duration(settings.imageFactoryDefaultJobTimeout)],
            ['Last updated', html`<${Time} value=${settings.lastUpdated} />`],
          ]} />
          <p class="hint">Only administrators can change the settings.</p>
        <//>`)}
  `;
}

function SettingsForm({ settings, onSaved }) {
  const { announce } = useSession();
  const [values, setValues] = useState(() => Object.fromEntries(FIELDS.map((name) => [name, settings[name]])));
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useRef(null);

  const submit = async (e) => {
    e.preventDefault();
    setFailure(null);
    setSaved(false);
    const found = {};
    const input = {};
    for (const [name] of SWITCHES) input[name] = values[name];
    for (const [name] of NUMBERS) {
      const text = String(values[name]).trim();
      if (!/^-?\d+$/.test(text)) found[name] = ['Enter a whole number.'];
      else input[name] = Number(text);
    }
    setErrors(found);
    if (Object.keys(found).length) {
      focusFirstInvalid(form.current);
      return;
    }
    setBusy(true);
    try {
      const data = await graphql(UPDATE_SETTINGS, { input });
      onSaved(data.updatePluginSettings);
      setSaved(true);
      announce('Settings saved.');
    } catch (error) {
      const fields = error.fields ?? {};
      setErrors(fields);
      const others = otherFieldErrors(fields, FIELDS);
      if (Object.keys(fields).length === 0) setFailure(error);
      else if (others.length) setFailure({ errors: others });
      focusFirstInvalid(form.current);
    } finally {
      setBusy(false);
    }
  };

  return html`<${Section} id="settings" title="Image factory">
    <form ref=${form} class="form" noValidate onSubmit=${submit}>
      <fieldset>
        <legend>Switches</legend>
        ${SWITCHES.map(([name, text, hint]) => html`<${Field} key=${name} id=${`settings-${name}`} name=${name}
          control="checkbox" label=${text} hint=${hint} checked=${values[name]} errors=${errors[name]}
          onChange=${(e) => setValues({ ...values, [name]: e.currentTarget.checked })} />`)}
      </fieldset>
      <fieldset>
        <legend>Limits</legend>
        <div class="form-grid">
          ${NUMBERS.map(([name, text, hint]) => html`<${Field} key=${name} id=${`settings-${name}`} name=${name}
            label=${text} hint=${hint} inputMode="numeric" required value=${values[name]} errors=${errors[name]}
            onInput=${(e) => setValues({ ...values, [name]: e.currentTarget.value })} />`)}
        </div>
      </fieldset>
      <${ErrorAlert} error=${failure} title="The settings were not saved" />
      ${saved && html`<${Notice}>Settings saved.<//>`}
      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled=${busy}>${busy ? 'Saving…' : 'Save settings'}</button>
        <span class="hint">Last updated <${Time} value=${settings.lastUpdated} /></span>
      </div>
    </form>
  <//>`;
}
