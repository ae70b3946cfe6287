import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import {
  checkPassword,
  estimateStrength,
  loadStrengthEstimator,
  strengthEstimatorIfLoaded,
  type PolicyResult,
} from '../services/passwordPolicy';

/** Live policy result for a password being chosen; loads the strength estimator on first use. */
export function usePasswordPolicy(password: string, userInputs: string[] = []): PolicyResult {
  const [ready, setReady] = useState(() => strengthEstimatorIfLoaded() !== null);
  const inputsKey = userInputs.join('\u0000');

  useEffect(() => {
    if (ready || password.length === 0) return;
    let active = true;
    loadStrengthEstimator()
      .then(() => active && setReady(true))
      .catch(() => undefined);
    return () => {
      active = false;
    };
  }, [password.length, ready]);

  // zxcvbn takes a few milliseconds per call: let typing stay ahead of the estimate.
  const deferred = useDeferredValue(password);
  const estimate = useMemo(() => {
    const est = ready ? strengthEstimatorIfLoaded() : null;
    return est && deferred ? estimateStrength(est, deferred, inputsKey.split('\u0000')) : null;
  }, [deferred, ready, inputsKey]);
  // The character rules follow every keystroke; the estimate only once it caught up.
  return useMemo(
    () => checkPassword(password, deferred === password ? estimate : null),
    [password, deferred, estimate],
  );
}
