/**
 * A storage server (memcached, redis-server) in a container, started through testcontainers.
 * Faults act on the container: SIGSTOP pauses it (cgroup freezer: connections are accepted but
 * nothing answers, like a hung server), SIGCONT unpauses it, SIGKILL/SIGTERM kill it (open
 * connections are reset and new ones refused), and restart() starts the same container again,
 * empty. The host port is pinned when the container is created, so a restarted node keeps its
 * address, as a restarted process does. Only containers started here are ever signalled, by id.
 */
import {
  GenericContainer,
  getContainerRuntimeClient,
  ImageName,
  type ContainerRuntimeClient,
  type StartedTestContainer,
} from 'testcontainers';
import type { StorageServer } from './server-process.js';

/** Labels every test container, so a CI run can remove exactly its own leftovers. */
const RUN_LABEL = 'msm-test-run';

/**
 * Why containers of `image` cannot be used here, or undefined when they can (pulls the image if
 * it is missing). `offlineHint` says what to do without a registry.
 */
export async function containersUnavailable(image: string, offlineHint: string): Promise<string | undefined> {
  let client: ContainerRuntimeClient;
  try {
    client = await getContainerRuntimeClient();
  } catch (err) {
    return `no container runtime is reachable (${(err as Error).message})`;
  }
  const name = ImageName.fromString(image);
  try {
    if (!(await client.image.exists(name))) await client.image.pull(name);
  } catch (err) {
    return `the image ${image} is not available (${(err as Error).message}); ${offlineHint}`;
  }
  return undefined;
}

/** What a container server runs and how to tell it is ready. */
export interface ContainerSpec {
  image: string;
  /** The container's command (its first word is the program). */
  command: string[];
  /** The port the server listens on inside the container. */
  containerPort: number;
  /** Files copied into the container before it starts. */
  files?: { source: string; target: string; mode?: number }[];
  /** Resolves once the server answers on the host's address for it. */
  answering(host: string, port: number): Promise<void>;
}

export class ContainerServer implements StorageServer {
  host = '127.0.0.1';
  private container?: StartedTestContainer;
  private paused = false;

  /** @param port the host port, pinned for the container's whole life */
  constructor(
    readonly port: number,
    private readonly spec: ContainerSpec,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    this.container = await new GenericContainer(this.spec.image)
      .withCommand(this.spec.command)
      .withExposedPorts({ container: this.spec.containerPort, host: this.port })
      .withCopyFilesToContainer(this.spec.files ?? [])
      .withLabels({ [RUN_LABEL]: process.env.MSM_TEST_RUN_ID || 'local' })
      .start();
    this.host = this.container.getHost();
    await this.spec.answering(this.host, this.port);
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
    await this.spec.answering(this.host, this.port);
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
