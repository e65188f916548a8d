import type { IncomingMessage } from 'node:http';

/**
 * The request's path without query string or fragment: what `requestUriIgnorePattern`,
 * `touchOnlyUriPattern` and the locking policies match (Express's `originalUrl` when mounted).
 */
export function requestPath(req: IncomingMessage & { originalUrl?: unknown }): string {
  const url = (req.originalUrl as string | undefined) ?? req.url ?? '/';
  // indexOf, not a regex: this runs on every request.
  const query = url.indexOf('?');
  const fragment = url.indexOf('#');
  const end = query === -1 ? fragment : fragment === -1 ? query : Math.min(query, fragment);
  return (end === -1 ? url : url.slice(0, end)) || '/';
}
