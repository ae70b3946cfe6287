import { QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, useLocation } from 'react-router';
import { AppRoutes } from '../App';
import { AuthProvider } from '../contexts/AuthContext';
import { createQueryClient } from '../services/queryClient';

function LocationProbe() {
  const location = useLocation();
  return (
    <output data-testid="location" hidden>
      {location.pathname}
      {location.search}
    </output>
  );
}

/**
 * Renders the whole app at `path`, as a browser would after a page load (a fresh query cache).
 * `path` may be a location object to pass navigation state (e.g. `{ pathname, state }`).
 */
export function renderApp(path: string | { pathname: string; state?: unknown } = '/') {
  const user = userEvent.setup();
  const utils = render(
    <MemoryRouter initialEntries={[path]}>
      <QueryClientProvider client={createQueryClient()}>
        <AuthProvider>
          <AppRoutes />
          <LocationProbe />
        </AuthProvider>
      </QueryClientProvider>
    </MemoryRouter>,
  );
  const location = () => utils.getByTestId('location').textContent;
  return { user, location, ...utils };
}
