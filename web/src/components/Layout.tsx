/** The app shell: header with brand, main navigation, role and Sign out; pages render below. */
import { Suspense, type ReactNode } from 'react';
import { NavLink, Outlet } from 'react-router-dom';
import { useAuth } from '../auth/context';
import { Loading } from './Feedback';

/** `admin`: only admin keys see the entry (the page itself tells a predict key why it is empty). */
const NAV = [
  { to: '/', label: 'Dashboard', end: true, admin: false },
  { to: '/training', label: 'Training', end: false, admin: false },
  { to: '/schedules', label: 'Schedules', end: false, admin: false },
  { to: '/models', label: 'Models', end: false, admin: false },
  { to: '/predictions', label: 'Predictions', end: false, admin: false },
  { to: '/monitoring', label: 'Monitoring', end: false, admin: false },
  { to: '/benchmark', label: 'Benchmark', end: false, admin: false },
  { to: '/audit', label: 'Audit', end: false, admin: true },
];

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" fill="#4f46e5" />
      <path d="M7 23 L16 8 L25 23" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
      <circle cx="16" cy="19" r="2.6" fill="#a5f3fc" />
    </svg>
  );
}

export function Layout() {
  const { role, signOut } = useAuth();
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <div className="brand">
            <Logo />
            <span className="brand-name">Rayline</span>
          </div>
          <nav className="mainnav" aria-label="Main">
            <ul>
              {NAV.filter((item) => !item.admin || role === 'admin').map((item) => (
                <li key={item.to}>
                  <NavLink to={item.to} end={item.end} className={({ isActive }) => (isActive ? 'active' : undefined)}>
                    {item.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <div className="session">
            <span className="role" title="Role of your API key">
              <span className="role-label">Role</span> <span className={`role-value role-${role ?? 'unknown'}`}>{role ?? '…'}</span>
            </span>
            <button type="button" className="btn btn-ghost" onClick={() => signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <Suspense fallback={<Loading label="Loading page…" />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: string; actions?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle ? <p className="page-subtitle">{subtitle}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}
