/** What to tell a person about a failed call: a title and a message, by HTTP status. */
import { ApiError } from '../api/client';

export interface ErrorDescription {
  title: string;
  message: string;
}

export function describeError(error: unknown): ErrorDescription {
  if (error instanceof ApiError) {
    switch (error.status) {
      case 0:
        return {
          title: 'Cannot reach the Rayline ingress',
          message: 'Check that the Serve application is running and reachable from this browser, then retry.',
        };
      case 401:
        return { title: 'Signed out', message: 'The server rejected the API key. Sign in again.' };
      case 403:
        return { title: 'Not allowed for your role', message: error.detail };
      case 404:
        return { title: 'Not found', message: error.detail };
      case 413:
        return { title: 'Request too large', message: error.detail };
      case 429:
        return { title: 'The server is busy', message: `${error.detail} Try again in a moment.` };
      case 503:
        return { title: 'Not ready yet', message: error.detail };
      default:
        if (error.status >= 500) return { title: `Server error (${error.status})`, message: error.detail };
        return { title: `Request rejected (${error.status})`, message: error.detail };
    }
  }
  if (error instanceof Error) return { title: 'Something went wrong', message: error.message };
  return { title: 'Something went wrong', message: String(error) };
}
