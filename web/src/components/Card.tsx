/** The card section the pages share: a region named by its own heading. */
import type { ReactNode } from 'react';

interface CardProps {
  /** The heading's id; the section is labelled by it. */
  id: string;
  title: ReactNode;
  /** Keep the heading for screen readers only; it still names the region. */
  hideTitle?: boolean;
  /** A class added after `card`, e.g. `result`. */
  className?: string;
  /** Shown beside the title in a `card-head` row. */
  aside?: ReactNode;
  children: ReactNode;
}

/** A `section.card` labelled by its h2 title, with the title beside `aside` when one is given. */
export function Card({ id, title, hideTitle = false, className, aside, children }: CardProps) {
  const heading = (
    <h2 id={id} className={hideTitle ? 'sr-only' : 'card-title'}>
      {title}
    </h2>
  );
  return (
    <section className={className ? `card ${className}` : 'card'} aria-labelledby={id}>
      {aside ? (
        <div className="card-head">
          {heading}
          {aside}
        </div>
      ) : (
        heading
      )}
      {children}
    </section>
  );
}
