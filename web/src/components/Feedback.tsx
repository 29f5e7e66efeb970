/** Loading, empty and error states, shared by every page so they read the same everywhere. */
import type { ReactNode } from 'react';
import { describeError } from '../lib/errors';

interface ErrorStateProps {
  error: unknown;
  onRetry?: () => void;
  /** What was being loaded, e.g. "the cluster state". */
  what?: string;
  compact?: boolean;
}

export function ErrorState({ error, onRetry, what, compact = false }: ErrorStateProps) {
  const { title, message } = describeError(error);
  return (
    <div className={compact ? 'notice notice-error compact' : 'notice notice-error'} role="alert">
      <div>
        <strong className="notice-title">
          {title}
          {what ? <span className="notice-what"> — while loading {what}</span> : null}
        </strong>
        <p className="notice-body">{message}</p>
      </div>
      {onRetry ? (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <strong>{title}</strong>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

export function Notice({ kind, children }: { kind: 'success' | 'info' | 'warning'; children: ReactNode }) {
  return (
    <div className={`notice notice-${kind}`} role="status">
      <div>{children}</div>
    </div>
  );
}
