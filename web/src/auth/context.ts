/** The signed-in session: API key, role and the API client that uses them. */
import { createContext, useContext } from 'react';
import type { ApiClient } from '../api/client';
import type { Role } from '../api/types';

export interface AuthState {
  /** The API key in use, or null when signed out. */
  apiKey: string | null;
  role: Role | null;
  /** Why the user was sent back to the key prompt (e.g. a 401), shown on the sign-in page. */
  notice: string | null;
  api: ApiClient;
  /** Validates the key with GET /v1/whoami; resolves to an error message, or null on success. */
  signIn: (key: string) => Promise<string | null>;
  signOut: (notice?: string) => void;
}

export const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error('useAuth must be used inside <AuthProvider>');
  return state;
}

export function useApi(): ApiClient {
  return useAuth().api;
}

export const KEY_STORAGE = 'rayline.apiKey';
export const ROLE_STORAGE = 'rayline.role';
export const SESSION_EXPIRED_NOTICE =
  'The server rejected your API key (401). Paste a valid key to continue.';
