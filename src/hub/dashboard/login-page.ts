import { html } from 'hono/html';
import { page, type Html } from './layout.js';

/** The login form (posts to POST /login), with the last attempt's error if any. */
export function loginPage(options: { error?: string; name?: string } = {}): Html {
  return page(
    'Log in',
    html`<form class="login" method="post" action="/login">
      <h1>Log in</h1>
      ${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
      <label
        >Name <input name="name" autocomplete="username" required value="${options.name ?? ''}"
      /></label>
      <label
        >Password <input name="password" type="password" autocomplete="current-password" required
      /></label>
      <button type="submit">Log in</button>
      <p class="muted">A person is added with <code>piot hub user add NAME</code> on the hub.</p>
    </form>`,
  );
}
