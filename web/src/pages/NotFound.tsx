import { Link } from 'react-router-dom';
import { EmptyState } from '../components/Feedback';
import { usePageTitle } from '../hooks/usePageTitle';

export default function NotFound() {
  usePageTitle('Not found');
  return (
    <div className="page">
      <EmptyState title="There is no page at this address.">
        <Link to="/">Go to the start page</Link>
      </EmptyState>
    </div>
  );
}
