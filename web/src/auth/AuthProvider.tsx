import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiClient, ApiError, API_BASE } from '../api/client';
import type { Role } from '../api/types';
import { AuthContext, KEY_STORAGE, ROLE_STORAGE, SESSION_EXPIRED_NOTICE, type AuthState } from './context';

function readStorage(key: string): string | null {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeStorage(key: string, value: string | null): void {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, value);
  } catch {
    // Storage can be disabled (privacy mode): the session then lasts as long as the page.
  }
}

function asRole(value: unknown): Role | null {
  return value === 'admin' || value === 'predict' ? value : null;
}

interface Props {
  children: ReactNode;
  /** For tests: a fetch to hand to the API client. */
  fetchImpl?: typeof fetch;
  baseUrl?: string;
}

export function AuthProvider({ children, fetchImpl, baseUrl = API_BASE }: Props) {
  const [apiKey, setApiKey] = useState<string | null>(() => readStorage(KEY_STORAGE));
  const [role, setRole] = useState<Role | null>(() => asRole(readStorage(ROLE_STORAGE)));
  const [notice, setNotice] = useState<string | null>(null);
  // One client for the whole page; it carries the current key itself.
  const [api] = useState(() => new ApiClient({ baseUrl, fetchImpl, token: readStorage(KEY_STORAGE) }));

  const signOut = useCallback(
    (message?: string) => {
      api.setToken(null);
      writeStorage(KEY_STORAGE, null);
      writeStorage(ROLE_STORAGE, null);
      setApiKey(null);
      setRole(null);
      setNotice(message ?? null);
    },
    [api],
  );

  // Any 401 to the signed-in key, from any page, ends the session with a message.
  useEffect(
    () =>
      api.onUnauthorized(() => {
        if (api.hasToken()) signOut(SESSION_EXPIRED_NOTICE);
      }),
    [api, signOut],
  );

  const signIn = useCallback(
    async (candidate: string): Promise<string | null> => {
      const key = candidate.trim();
      if (!key) return 'Paste your API key first.';
      try {
        const who = await api.whoami(key);
        const newRole = asRole(who.role);
        if (!newRole) return `Unexpected answer from the server: role ${JSON.stringify(who.role)}.`;
        api.setToken(key);
        writeStorage(KEY_STORAGE, key);
        writeStorage(ROLE_STORAGE, newRole);
        setApiKey(key);
        setRole(newRole);
        setNotice(null);
        return null;
      } catch (err) {
        if (err instanceof ApiError) {
          if (err.status === 401 || err.status === 403) {
            return 'This API key was not accepted. Check the key and try again.';
          }
          return err.isNetworkError ? err.detail : `Could not sign in: ${err.detail}`;
        }
        throw err;
      }
    },
    [api],
  );

  const value = useMemo<AuthState>(
    () => ({ apiKey, role, notice, api, signIn, signOut }),
    [apiKey, role, notice, api, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
