import { useEffect, type ReactNode } from 'react';

/**
 * The page's one `<h1>`. It is focusable (tabIndex -1) so route changes can move focus to it,
 * and it sets the document title.
 */
export function PageHeader({
  title,
  description,
  actions,
}: {
  title: string;
  description?: ReactNode;
  actions?: ReactNode;
}) {
  useDocumentTitle(title);
  return (
    <header className="page-header">
      <div>
        <h1 tabIndex={-1} className="page-header__title">
          {title}
        </h1>
        {description ? <p className="page-header__description">{description}</p> : null}
      </div>
      {actions ? <div className="page-header__actions">{actions}</div> : null}
    </header>
  );
}

export function useDocumentTitle(title: string) {
  useEffect(() => {
    document.title = `${title} · Quantagro`;
  }, [title]);
}
