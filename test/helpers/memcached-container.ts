/**
 * memcached in a container, started through testcontainers. Faults act on the container:
 * SIGSTOP pauses it (cgroup freezer: connections are accepted but nothing answers, like a hung
 * server), SIGCONT unpauses it, SIGKILL/SIGTERM kill it (open connections are reset and new ones
 * refused), and restart() starts the same container again, empty. The host port is pinned when
 * the container is created, so a restarted node keeps its address, as a restarted process does.
 */
import {
  GenericContainer,
  getContainerRuntimeClient,
  ImageName,
  type ContainerRuntimeClient,
  type StartedTestContainer,
} from 'testcontainers';
import type { MemcachedInstance } from './memcached.js';
import { readStats, waitUntilAnswering } from './memcached-text.js';

/** The image for memcached nodes: MSM_TEST_MEMCACHED_IMAGE, or the official one. */
export function memcachedImage(): string {
  return process.env.MSM_TEST_MEMCACHED_IMAGE || 'memcached:1.6-alpine';
}

/** Why containers cannot be used here, or undefined when they can (pulls the image if it is missing). */
export async function containersUnavailable(): Promise<string | undefined> {
  let client: ContainerRuntimeClient;
  try {
    client = await getContainerRuntimeClient();
  } catch (err) {
    return `no container runtime is reachable (${(err as Error).message})`;
  }
  const image = ImageName.fromString(memcachedImage());
  try {
    if (!(await client.image.exists(image))) await client.image.pull(image);
  } catch (err) {
    return (
      `the image ${memcachedImage()} is not available (${(err as Error).message}); offline, build msm-memcached:local ` +
      'with docker/local-images.sh and set MSM_TEST_MEMCACHED_IMAGE=msm-memcached:local'
    );
  }
  return undefined;
}

/** Labels every test container, so a CI run can remove exactly its own leftovers. */
const RUN_LABEL = 'msm-test-run';

export class ContainerMemcached implements MemcachedInstance {
  host = '127.0.0.1';
  private container?: StartedTestContainer;
  private paused = false;

  /** @param port the host port, pinned for the container's whole life */
  constructor(readonly port: number) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    this.container = await new GenericContainer(memcachedImage())
      .withCommand(['memcached', '-m', '64', '-c', '1024', '-U', '0'])
      .withExposedPorts({ container: 11211, host: this.port })
      .withLabels({ [RUN_LABEL]: process.env.MSM_TEST_RUN_ID || 'local' })
      .start();
    this.host = this.container.getHost();
    await waitUntilAnswering(this.host, this.port);
  }

  stats(): Promise<Record<string, number>> {
    return readStats(this.host, this.port);
  }

  async signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): Promise<void> {
    const engine = await this.engineContainer();
    if (!engine) return;
    if (signal === 'SIGSTOP' && !this.paused) {
      await engine.pause();
      this.paused = true;
    } else if (signal === 'SIGCONT' && this.paused) {
      await engine.unpause();
      this.paused = false;
    } else if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      await this.resume();
      if ((await engine.inspect()).State.Running) await engine.kill({ signal });
      // The engine releases the port (so new connections are refused) before the container counts as exited.
      await engine.wait({ condition: 'not-running' });
    }
  }

  async restart(): Promise<void> {
    await this.resume();
    // Restarting a stopped container starts it; on the same pinned port either way.
    await this.container?.restart();
    await waitUntilAnswering(this.host, this.port);
  }

  async stop(): Promise<void> {
    await this.resume();
    await this.container?.stop({ timeout: 0 });
    this.container = undefined;
  }

  private async resume(): Promise<void> {
    if (this.paused) await this.signal('SIGCONT');
  }

  /** The engine's handle on the container, for the faults testcontainers has no call for. */
  private async engineContainer() {
    if (!this.container) return undefined;
    const client = await getContainerRuntimeClient();
    return client.container.getById(this.container.getId());
  }
}
