/** The key prompt: paste the API key once; it is checked with GET /v1/whoami and kept for the tab. */
import { useState, type FormEvent } from 'react';
import { useAuth } from '../auth/context';
import { Logo } from '../components/Layout';

export default function SignIn() {
  const { signIn, notice } = useAuth();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const problem = await signIn(key);
    // On success this component unmounts; only a failure needs local state.
    if (problem) {
      setError(problem);
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={(e) => void onSubmit(e)} noValidate>
        <div className="signin-brand">
          <Logo />
          <span className="brand-name">Rayline</span>
        </div>
        <h1>Sign in</h1>
        <p className="muted">
          Paste an API key for this Rayline deployment. It is checked with the server and kept only for
          this browser tab.
        </p>
        {notice ? (
          <div className="notice notice-warning" role="alert">
            <div>{notice}</div>
          </div>
        ) : null}
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            name="api-key"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'api-key-error' : undefined}
            required
            autoFocus
          />
        </div>
        {error ? (
          <p id="api-key-error" className="field-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
