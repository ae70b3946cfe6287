import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { apiError, server } from '../test/server';
import { renderApp } from '../test/render';

const STRONG = 'Tangerine-Orbit-42';

async function fillForm(user: ReturnType<typeof renderApp>['user'], password = STRONG, confirm = password) {
  await user.type(await screen.findByLabelText('Full name'), 'Asha Rao');
  await user.type(screen.getByLabelText('Email'), 'asha@example.com');
  await user.type(screen.getByLabelText('Password'), password);
  await user.type(screen.getByLabelText('Confirm password'), confirm);
}

describe('RegisterPage', () => {
  it('shows the weak_password errors of the API inline under the password', async () => {
    server.use(
      http.post('/v1/auth/register', () =>
        apiError(422, 'weak_password', 'The password does not meet the policy.', {
          errors: [
            {
              field: 'password',
              message: 'This password appears in a list of breached passwords.',
              code: 'common_password',
            },
          ],
        }),
      ),
    );
    const { user } = renderApp('/register');
    await fillForm(user);
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Choose a stronger password.');
    const password = screen.getByLabelText('Password');
    expect(password).toHaveAttribute('aria-invalid', 'true');
    expect(password).toHaveAccessibleDescription(/breached passwords/);
    await waitFor(() => expect(password).toHaveFocus());
  });

  it('puts a duplicate email error next to the email field', async () => {
    server.use(
      http.post('/v1/auth/register', () =>
        apiError(409, 'email_already_registered', 'An account with this email already exists.'),
      ),
    );
    const { user } = renderApp('/register');
    await fillForm(user);
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription(/already exists/);
    expect(within(screen.getByRole('alert')).getByRole('link', { name: 'reset your password' })).toBeInTheDocument();
  });

  it('maps validation_error field paths to their inputs', async () => {
    server.use(
      http.post('/v1/auth/register', () =>
        apiError(422, 'validation_error', 'Some fields are invalid.', {
          errors: [{ field: 'body.email', message: 'value is not a valid email address' }],
        }),
      ),
    );
    const { user } = renderApp('/register');
    await fillForm(user);
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() =>
      expect(screen.getByLabelText('Email')).toHaveAccessibleDescription(/Enter a valid email address/),
    );
  });

  it('refuses mismatched passwords before calling the API', async () => {
    let called = false;
    server.use(
      http.post('/v1/auth/register', () => {
        called = true;
        return HttpResponse.json({}, { status: 201 });
      }),
    );
    const { user } = renderApp('/register');
    await fillForm(user, STRONG, `${STRONG}x`);
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText('The passwords do not match.')).toBeInTheDocument();
    expect(called).toBe(false);
  });

  it('sends the account and shows where the verification email went', async () => {
    let body: Record<string, unknown> = {};
    server.use(
      http.post('/v1/auth/register', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(
          { user_id: 'u-9', email: 'asha@example.com', name: 'Asha Rao', status: 'active' },
          { status: 201 },
        );
      }),
    );
    const { user } = renderApp('/register');
    await fillForm(user);
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('heading', { name: 'Check your inbox' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('asha@example.com');
    expect(body).toMatchObject({ name: 'Asha Rao', email: 'asha@example.com', password: STRONG });
  });
});
