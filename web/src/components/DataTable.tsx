/** The table markup the pages share: a scrolling wrapper, a caption for screen readers and one header row. */
import type { ReactNode } from 'react';

interface DataTableProps {
  /** Names the table for screen readers; not shown. */
  caption: string;
  /** Column headers in order; `null` leaves a column out (e.g. one only admins see). */
  columns: (ReactNode | null)[];
  /** A class added after `table`, e.g. `jobs-table`. */
  className?: string;
  /** The body rows. */
  children: ReactNode;
}

/** A captioned table with one header row of `scope="col"` cells and `children` as its body. */
export function DataTable({ caption, columns, className, children }: DataTableProps) {
  return (
    <div className="table-wrap">
      <table className={className ? `table ${className}` : 'table'}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column, i) =>
              column === null ? null : (
                <th key={i} scope="col">
                  {column}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
