/**
 * Whether a suite's storage servers run in containers, from its provider variable
 * (MSM_TEST_MEMCACHED, MSM_TEST_REDIS): `container` demands them, unset takes them when a
 * container runtime with the image is reachable, any other provider declines them.
 */

/** The choice, and why containers were not taken when they were tried. */
export interface ContainerChoice<P extends string> {
  /** The provider the variable names, undefined when it is unset. */
  requested?: P;
  containers: boolean;
  skipped?: string;
}

/**
 * Reads `variable` (one of `providers`, or unset) and tries containers when it allows them;
 * `unavailable` says why they cannot be used, or undefined when they can.
 */
export async function chooseContainers<P extends string>(
  variable: string,
  providers: readonly P[],
  unavailable: () => Promise<string | undefined>,
): Promise<ContainerChoice<P>> {
  const value = process.env[variable] || undefined;
  if (value !== undefined && !(providers as readonly string[]).includes(value)) {
    throw new Error(`${variable}=${value}: expected ${providers.join(', ')}, or unset to pick one`);
  }
  const requested = value as P | undefined;
  if (requested !== undefined && requested !== 'container') return { requested, containers: false };
  const skipped = await unavailable();
  if (skipped && requested === 'container') throw new Error(`${variable}=container, but ${skipped}`);
  return { requested, containers: !skipped, skipped };
}
