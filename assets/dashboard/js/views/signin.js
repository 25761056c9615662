// Sign-in: paste an API token. It is checked with `me` before the tab keeps it.

import { html, useEffect, useState } from '../html.js';
import { ErrorAlert, Field, PageHeading } from '../components.js';

/** `onSignIn(token)` resolves when signed in and rejects with the API's error otherwise. */
export function SignIn({ onSignIn, notice }) {
  const [token, setToken] = useState('');
  const [errors, setErrors] = useState(null);
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  const focus = () => document.getElementById('signin-token')?.focus();

  useEffect(focus, []);

  const submit = async (e) => {
    e.preventDefault();
    // Accept what a user may copy along with the token: `Bearer …`, `Token …`, spaces.
    const value = token.trim().replace(/^(Bearer|Token)\s+/i, '');
    setFailure(null);
    if (!value) {
      setErrors(['Paste an API token.']);
      focus();
      return;
    }
    setErrors(null);
    setBusy(true);
    try {
      await onSignIn(value);
    } catch (error) {
      if (error.code === 'UNAUTHENTICATED') {
        setErrors(['This token is not valid: it is unknown, expired, revoked or disabled.']);
        focus();
      } else {
        setFailure(error);
      }
      setBusy(false);
    }
  };

  return html`<div class="signin">
    <${PageHeading} title="Sign in to packer-gateway" />
    ${notice && html`<div class="alert alert-info" role="status">${notice}</div>`}
    <form class="form" noValidate onSubmit=${submit}>
      <${Field} id="signin-token" name="token" label="API token" type="password" required
        autocomplete="off" spellcheck="false"
        hint=${html`Create one with <code>packer-gateway token create --user NAME</code>, or use the one
          printed when the service first started. This tab keeps it until you sign out or close the tab.`}
        value=${token} onInput=${(e) => setToken(e.currentTarget.value)} errors=${errors} />
      <${ErrorAlert} error=${failure} title="Could not sign in" />
      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </div>
    </form>
  </div>`;
}
