import type { IncomingMessage } from 'node:http';

/**
 * The request's path without query string or fragment: what `requestUriIgnorePattern`,
 * `touchOnlyUriPattern` and the locking policies match (Express's `originalUrl` when mounted).
 */
export function requestPath(req: IncomingMessage & { originalUrl?: unknown }): string {
  const url = (req.originalUrl as string | undefined) ?? req.url ?? '/';
  const end = url.search(/[?#]/);
  return (end === -1 ? url : url.slice(0, end)) || '/';
}
