/**
 * Session ids carry the owning app node's route as their last dot-separated field:
 * `<random>.<route>`. The signed cookie is then `s:<random>.<route>.<signature>`, so a load
 * balancer finds the route in the second-to-last dot field of the cookie value.
 */

/** Appends `route` to a fresh id. */
export function withRoute(id: string, route: string): string {
  return `${id}.${route}`;
}

/** The route an id carries, or undefined. */
export function routeOf(id: string): string | undefined {
  const dot = id.lastIndexOf('.');
  return dot > 0 ? id.slice(dot + 1) : undefined;
}
