import * as cookieLib from 'cookie';

/** The cookie attributes a session carries, as stored alongside the session data. */
export interface CookieData {
  originalMaxAge: number | null;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
  expires?: Date | null;
  secure?: boolean | 'auto';
  httpOnly?: boolean;
  domain?: string;
  path?: string;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | 'auto';
}

export type CookieOptions = Partial<Omit<CookieData, 'originalMaxAge'>> & {
  maxAge?: number | null;
  originalMaxAge?: number | null;
};

/**
 * The session cookie, API-compatible with express-session's `Cookie`:
 * `maxAge` counts down from `expires`, `originalMaxAge` remembers the configured lifetime.
 */
export class Cookie {
  path = '/';
  httpOnly = true;
  declare originalMaxAge: number | null | undefined;
  // Declared, not initialized: only attributes that are set become properties (one Cookie per request).
  declare domain?: string;
  declare secure?: boolean | 'auto';
  declare sameSite?: CookieData['sameSite'];
  declare partitioned?: boolean;
  declare priority?: CookieData['priority'];
  private _expires: Date | null | undefined = undefined;

  constructor(options?: CookieOptions | null) {
    this.maxAge = null;
    if (options) {
      if (typeof options !== 'object') throw new TypeError('argument options must be a object');
      this.assign(options as Record<string, unknown>, false);
    }
    if (this.originalMaxAge === undefined || this.originalMaxAge === null) {
      this.originalMaxAge = this.maxAge;
    }
  }

  /**
   * A cookie from its stored form (`toJSON`'s, with `expires` as an ISO string): what
   * express-session's `createSession` builds, in fewer steps (it runs on every request that loads
   * a session): `expires` and `originalMaxAge` are taken as stored, the rest as the constructor would.
   */
  static restore(stored: Record<string, unknown>): Cookie {
    const cookie = new Cookie();
    cookie.assign(stored, true);
    const expires = stored.expires;
    if (Object.prototype.hasOwnProperty.call(stored, 'expires')) {
      cookie._expires = typeof expires === 'string' ? new Date(expires) : (expires as Date | null | undefined);
    }
    cookie.originalMaxAge = stored.originalMaxAge as number | null | undefined;
    return cookie;
  }

  /** Copies `source`'s own attributes (through the setters), leaving out `expires` and `originalMaxAge` when `exceptExpiry`. */
  private assign(source: Record<string, unknown>, exceptExpiry: boolean): void {
    // for-in over own keys: Object.entries allocates an array per attribute (one Cookie per request).
    for (const key in source) {
      if (key === 'data' || !Object.prototype.hasOwnProperty.call(source, key)) continue;
      if (exceptExpiry && (key === 'expires' || key === 'originalMaxAge')) continue;
      (this as unknown as Record<string, unknown>)[key] = source[key];
    }
  }

  /** Absolute expiry; setting it also records the current `maxAge` as `originalMaxAge`. */
  set expires(date: Date | null | undefined) {
    this._expires = date;
    this.originalMaxAge = this.maxAge;
  }
  get expires(): Date | null | undefined {
    return this._expires;
  }

  /** Milliseconds until expiry (null for a browser-session cookie). */
  set maxAge(ms: number | Date | null | undefined) {
    if (ms && typeof ms !== 'number' && !(ms instanceof Date)) {
      throw new TypeError('maxAge must be a number or Date');
    }
    const expires = typeof ms === 'number' ? new Date(Date.now() + ms) : ms;
    // Said here, where the app sets it: an invalid date would only fail later, as the session is stored.
    if (typeof ms === 'number' && Number.isNaN(expires!.valueOf())) {
      throw new RangeError(`cookie.maxAge must be a number of milliseconds that gives a valid date, got ${ms}`);
    }
    this.expires = expires;
  }
  get maxAge(): number | null | undefined {
    return this.expires instanceof Date ? this.expires.valueOf() - Date.now() : (this.expires as null | undefined);
  }

  /** The attributes, as stored and as passed to the cookie serializer. */
  get data(): CookieData {
    return {
      // As express-session: a stored cookie without one keeps it undefined (left out of the JSON).
      originalMaxAge: this.originalMaxAge as number | null,
      partitioned: this.partitioned,
      priority: this.priority,
      expires: this._expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
    };
  }

  /** `Set-Cookie` header value for `name=value` with these attributes. */
  serialize(name: string, value: string): string {
    return cookieLib.serialize(name, value, this.data as cookieLib.CookieSerializeOptions);
  }

  toJSON(): CookieData {
    return this.data;
  }
}
