/** Routes: the key prompt when signed out; otherwise the shell with the eight pages (code-split). */
import { lazy } from 'react';
import { Route, Routes } from 'react-router-dom';
import { useAuth } from './auth/context';
import { Layout } from './components/Layout';
import SignIn from './pages/SignIn';

const Dashboard = lazy(() => import('./pages/Dashboard'));
const Training = lazy(() => import('./pages/Training'));
const JobView = lazy(() => import('./pages/JobView'));
const Schedules = lazy(() => import('./pages/Schedules'));
const Models = lazy(() => import('./pages/Models'));
const Predictions = lazy(() => import('./pages/Predictions'));
const Monitoring = lazy(() => import('./pages/Monitoring'));
const Benchmark = lazy(() => import('./pages/Benchmark'));
const Audit = lazy(() => import('./pages/Audit'));
const NotFound = lazy(() => import('./pages/NotFound'));

export function App() {
  const { apiKey } = useAuth();
  // Signed out (or sent back by a 401): every address shows the key prompt and keeps its URL,
  // so signing in lands on the page that was asked for.
  if (!apiKey) return <SignIn />;
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Dashboard />} />
        <Route path="training" element={<Training />} />
        <Route path="training/jobs/:jobId" element={<JobView />} />
        <Route path="schedules" element={<Schedules />} />
        <Route path="schedules/:name" element={<Schedules />} />
        <Route path="models" element={<Models />} />
        <Route path="models/:name" element={<Models />} />
        <Route path="predictions" element={<Predictions />} />
        <Route path="monitoring" element={<Monitoring />} />
        <Route path="monitoring/:name" element={<Monitoring />} />
        <Route path="benchmark" element={<Benchmark />} />
        <Route path="audit" element={<Audit />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
