/**
 * redis-server in a container, started through testcontainers, with the faults of
 * container-server.ts (SIGSTOP pauses it, SIGKILL kills it, restart() starts the same container
 * again, empty, on the same host port).
 */
import { ContainerServer, containersUnavailable as unavailable, type ContainerSpec } from './container-server.js';

/** The image for Redis nodes: MSM_TEST_REDIS_IMAGE, or the official one. */
export function redisImage(): string {
  return process.env.MSM_TEST_REDIS_IMAGE || 'redis:7-alpine';
}

/** Why Redis containers cannot be used here, or undefined when they can (pulls the image if it is missing). */
export function containersUnavailable(): Promise<string | undefined> {
  return unavailable(redisImage(), 'offline, build msm-redis:local with docker/local-images.sh and set MSM_TEST_REDIS_IMAGE=msm-redis:local');
}

/** A redis-server container published on the host's `port`, running `command` (which listens on 6379 inside). */
export function containerRedis(port: number, spec: Omit<ContainerSpec, 'image' | 'containerPort'>): ContainerServer {
  return new ContainerServer(port, { ...spec, image: redisImage(), containerPort: 6379 });
}
