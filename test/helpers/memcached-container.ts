/**
 * memcached in a container, started through testcontainers, with the faults of container-server.ts
 * (SIGSTOP pauses it, SIGKILL kills it, restart() starts the same container again, empty, on the
 * same host port).
 */
import { ContainerServer, containersUnavailable as unavailable } from './container-server.js';
import type { MemcachedInstance } from './memcached.js';
import { readStats, waitUntilAnswering } from './memcached-text.js';

/** The image for memcached nodes: MSM_TEST_MEMCACHED_IMAGE, or the official one. */
export function memcachedImage(): string {
  return process.env.MSM_TEST_MEMCACHED_IMAGE || 'memcached:1.6-alpine';
}

/** Why memcached containers cannot be used here, or undefined when they can (pulls the image if it is missing). */
export function containersUnavailable(): Promise<string | undefined> {
  return unavailable(memcachedImage(), 'offline, build msm-memcached:local with docker/local-images.sh and set MSM_TEST_MEMCACHED_IMAGE=msm-memcached:local');
}

export class ContainerMemcached extends ContainerServer implements MemcachedInstance {
  /** @param port the host port, pinned for the container's whole life */
  constructor(port: number) {
    super(port, { image: memcachedImage(), command: ['memcached', '-m', '64', '-c', '1024', '-U', '0'], containerPort: 11211, answering: waitUntilAnswering });
  }

  stats(): Promise<Record<string, number>> {
    return readStats(this.host, this.port);
  }
}
