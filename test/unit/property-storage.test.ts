import { describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import express from 'express';
import { preferDictionaryProperties } from '../../src/manager/property-storage.js';
import session from '../../src/index.js';

// V8's own view of an object's properties (the optimization is invisible to JavaScript otherwise).
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

const app = express();
const socket = new net.Socket();

/** A request and response as Node's http server builds them, then as Express changes them. */
function exchange(asExpress: boolean): { req: http.IncomingMessage; res: http.ServerResponse } {
  const req = new http.IncomingMessage(socket);
  req.headers = { host: 'test' };
  req.url = '/';
  req.method = 'GET';
  const res = new http.ServerResponse(req);
  if (asExpress) {
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    Object.assign(req, { res, next: () => {}, baseUrl: '', originalUrl: '/', query: {} });
    Object.assign(res, { locals: Object.create(null) });
  }
  return { req, res };
}

function ownProperties(o: object): [PropertyKey, PropertyDescriptor][] {
  return Reflect.ownKeys(o).map((key) => [key, Object.getOwnPropertyDescriptor(o, key)!]);
}

describe('preferDictionaryProperties', () => {
  it('leaves the object as JavaScript sees it: same keys in the same order, same values, same prototype', () => {
    const { req, res } = exchange(true);
    for (const target of [req, res]) {
      const before = ownProperties(target);
      const prototype = Object.getPrototypeOf(target);
      preferDictionaryProperties(target);
      expect(ownProperties(target)).toEqual(before);
      expect(Object.getPrototypeOf(target)).toBe(prototype);
    }
  });

  it("moves a request and response whose prototypes Express swapped to dictionary properties", () => {
    const { req, res } = exchange(true);
    // Each swapped object has a hidden class of its own (the cost this avoids).
    expect(haveSameMap(req, exchange(true).req)).toBe(false);
    expect(hasFastProperties(req)).toBe(true);
    preferDictionaryProperties(req);
    preferDictionaryProperties(res);
    expect(hasFastProperties(req)).toBe(false);
    expect(hasFastProperties(res)).toBe(false);
  });

  it('leaves a bare node:http request and response on their shared hidden class', () => {
    const { req, res } = exchange(false);
    const other = exchange(false);
    preferDictionaryProperties(req);
    preferDictionaryProperties(res);
    expect(hasFastProperties(req)).toBe(true);
    expect(haveSameMap(req, other.req)).toBe(true);
    expect(haveSameMap(res, other.res)).toBe(true);
  });

  it('is applied by the middleware before it adds its properties (Express objects)', async () => {
    const middleware = session({ secret: 'test secret', resave: false, saveUninitialized: false });
    const { req, res } = exchange(true);
    const seen = await new Promise<{ req: boolean; res: boolean; session: boolean }>((resolve, reject) =>
      middleware(req, res, (err?: unknown) =>
        err ? reject(err) : resolve({ req: hasFastProperties(req), res: hasFastProperties(res), session: 'session' in req }),
      ),
    );
    expect(seen).toEqual({ req: false, res: false, session: true });
    await middleware.close();
  });
});
