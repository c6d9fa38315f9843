/** Errors that the CLI maps to exit codes and one-line messages. */

/** Invalid user input (config field, CLI option, env name). The CLI exits with code 2. */
export class ConfigError extends Error {
  constructor(
    /** Dotted path of the offending field, e.g. `maml.fastLr` or `--backend`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A NaN or Inf appeared where training cannot continue (observations, losses, parameters). */
export class NumericError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NumericError';
  }
}

/** Throws a ConfigError unless `value` is one of `allowed`. */
export function assertOneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(field, `unknown value '${value}'; allowed: ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Throws a NumericError naming `what` if any entry of `xs` is not finite. */
export function assertFinite(what: string, xs: ArrayLike<number>): void {
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) {
      throw new NumericError(`${what} contains ${xs[i]} at index ${i}; stopping before it spreads`);
    }
  }
}

/**
 * The run was halted on purpose (Ctrl-C or SIGTERM on hardware): the env sent its stop and takes
 * no more actions. The training loop checkpoints the last finished meta-batch and exits 130.
 */
export class HaltedError extends Error {
  constructor(reason: string) {
    super(`halted (${reason}): the robot was sent its stop action and takes no further commands`);
    this.name = 'HaltedError';
  }
}
