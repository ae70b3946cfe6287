import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, useLocation } from 'react-router';
import { AppRoutes } from '../App';
import { AuthProvider } from '../contexts/AuthContext';

function LocationProbe() {
  const location = useLocation();
  return (
    <output data-testid="location" hidden>
      {location.pathname}
      {location.search}
    </output>
  );
}

/** Renders the whole app at `path`, as a browser would after a page load. */
/** `path` may be a location object to pass navigation state (e.g. `{ pathname, state }`). */
export function renderApp(path: string | { pathname: string; state?: unknown } = '/') {
  const user = userEvent.setup();
  const utils = render(
    <MemoryRouter initialEntries={[path]}>
      <AuthProvider>
        <AppRoutes />
        <LocationProbe />
      </AuthProvider>
    </MemoryRouter>,
  );
  const location = () => utils.getByTestId('location').textContent;
  return { user, location, ...utils };
}
