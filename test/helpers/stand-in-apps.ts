/** Stand-in app nodes for load-balancer tests: each answers every request with its route. */
import type http from 'node:http';
import { serve } from './http.js';
import { sign } from '../../src/request/signature.js';

export interface StandInApp {
  route: string;
  /** host:port */
  address: string;
  close(): Promise<void>;
}

/** Starts `count` apps named app1…appN; the caller closes them. */
export async function standInApps(count: number): Promise<StandInApp[]> {
  const apps: StandInApp[] = [];
  for (let i = 1; i <= count; i++) {
    const server = await serve((_req: http.IncomingMessage, res: http.ServerResponse) => res.end(`app${i}`));
    apps.push({ route: `app${i}`, address: server.url.replace('http://', ''), close: server.close });
  }
  return apps;
}

/** A session cookie as the middleware sends it for a session owned by `route` (secret "secret"). */
export const routeCookie = (route: string): string =>
  `connect.sid=${encodeURIComponent(`s:${sign(`abcdefghijklmnopqrstuvwxyz012345.${route}`, 'secret')}`)}`;
