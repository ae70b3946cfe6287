import { useMemo, useState, type FormEvent } from 'react';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { StatusBadge } from '../components/StatusBadge';
import { useAsyncForm } from '../components/useAsyncForm';
import { useAuth } from '../contexts/AuthContext';
import { usersApi } from '../services/usersApi';

const LOCALES = ['en-IN', 'en-US', 'en-GB', 'hi-IN', 'mr-IN', 'gu-IN', 'ta-IN', 'te-IN', 'bn-IN', 'kn-IN'];

function timezones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? ['Asia/Kolkata', 'UTC'];
  } catch {
    return ['Asia/Kolkata', 'UTC'];
  }
}

/** Accepts IANA names and their aliases (Chromium lists Asia/Calcutta, users type Asia/Kolkata). */
function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** The service's rules (kit/validation.py), checked first so its pattern never reaches the page. */
export function isPhone(value: string): boolean {
  return value.length <= 32 && /^\+?[0-9 ()-]{4,32}$/.test(value) && (value.match(/\d/g)?.length ?? 0) >= 6;
}

export function isLocale(value: string): boolean {
  if (value.length > 35 || !/^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$/.test(value)) return false;
  try {
    return Intl.getCanonicalLocales(value.replace(/_/g, '-')).length === 1;
  } catch {
    return false;
  }
}

export function ProfilePage() {
  const { user, setUser } = useAuth();
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const form = useAsyncForm({ name: '', phone: '', timezone: '', locale: '' });
  const { name, phone, timezone, locale } = form.values;
  const zones = useMemo(timezones, []);

  if (!user) return null;

  const startEditing = () => {
    form.setValues({
      name: user.name ?? '',
      phone: user.phone ?? '',
      timezone: user.timezone ?? '',
      locale: user.locale ?? '',
    });
    setSaved(false);
    form.reset();
    setEditing(true);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(
      () =>
        usersApi.updateMe({
          name: name.trim(),
          phone: phone.trim() || null,
          timezone: timezone.trim() || null,
          locale: locale.trim() || null,
        }),
      {
        validate: () => {
          const errors: Record<string, string> = {};
          if (!name.trim()) errors.name = 'Enter your name.';
          if (phone.trim() && !isPhone(phone.trim()))
            errors.phone =
              'Enter a phone number with its country code, e.g. +91 98765 43210 (digits, spaces, brackets and dashes only).';
          if (locale.trim() && !isLocale(locale.trim()))
            errors.locale = 'Pick a language and region from the list, e.g. en-IN.';
          if (timezone.trim() && !isTimeZone(timezone.trim()))
            errors.timezone = 'Pick a time zone from the list, e.g. Asia/Kolkata.';
          return errors;
        },
      },
    );
    if (result.ok) {
      setUser({ ...user, ...result.value });
      setEditing(false);
      setSaved(true);
    }
  };

  return (
    <>
      <PageHeader
        title="Profile"
        description="How you appear across Quantagro, and the time zone and language we use for you."
        actions={
          !editing ? (
            <Button variant="secondary" onClick={startEditing}>
              Edit profile
            </Button>
          ) : null
        }
      />
      {saved ? <Alert tone="success">Your profile was saved.</Alert> : null}
      <section className="card">
        {!editing ? (
          <dl className="details">
            <div>
              <dt>Name</dt>
              <dd>{user.name || '—'}</dd>
            </div>
            <div>
              <dt>Email</dt>
              <dd>
                {user.email} <StatusBadge status={user.email_verified ? 'verified' : 'unverified'} />
              </dd>
            </div>
            <div>
              <dt>Phone</dt>
              <dd>{user.phone || '—'}</dd>
            </div>
            <div>
              <dt>Time zone</dt>
              <dd>{user.timezone || '—'}</dd>
            </div>
            <div>
              <dt>Language and region</dt>
              <dd>{user.locale || '—'}</dd>
            </div>
          </dl>
        ) : (
          <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
            <FormAlert form={form} />
            <TextField label="Name" autoComplete="name" {...form.field('name')} />
            <TextField
              label="Email"
              name="email"
              value={user.email}
              readOnly
              disabled
              hint="Your email address cannot be changed here."
            />
            <TextField label="Phone" type="tel" autoComplete="tel" optional {...form.field('phone')} />
            <div className="form__grid">
              <TextField label="Time zone" list="timezone-options" optional {...form.field('timezone')} />
              <datalist id="timezone-options">
                {zones.map((zone) => (
                  <option key={zone} value={zone} />
                ))}
              </datalist>
              <TextField
                label="Language and region"
                list="locale-options"
                optional
                hint="For example en-IN."
                {...form.field('locale')}
              />
              <datalist id="locale-options">
                {LOCALES.map((code) => (
                  <option key={code} value={code} />
                ))}
              </datalist>
            </div>
            <div className="form__actions">
              <Button type="submit" loading={form.submitting}>
                Save changes
              </Button>
              <Button variant="secondary" onClick={() => setEditing(false)} disabled={form.submitting}>
                Cancel
              </Button>
            </div>
          </form>
        )}
      </section>
    </>
  );
}
