import type { ServerResponse } from 'node:http';
import type { LoadedSession, SessionMode } from '../modes/session-mode.js';
import { listenForSaves, Session, type SaveListener, type SessionRequest } from '../session/session.js';
import type { SessionData, Store } from '../session/store.js';
import type { ResponseListener } from './response-hooks.js';
import { writeSessionCookie } from './session-cookie.js';
import type { SignedValues } from './signature.js';
import { saveTrace, traced } from '../base/tracing.js';
import { attributesJson, primitiveAttributes, sameAttributes } from '../session/change-detection.js';

/** A request as the middleware sees it (Express adds `originalUrl` and `secure`). */
export type LifecycleRequest = SessionRequest & { originalUrl?: string; secure?: boolean };

/** What every request of one middleware shares: its options and collaborators, made once. */
export interface LifecycleSettings {
  name: string;
  mode: SessionMode;
  store: Store;
  signedIds: SignedValues;
  resave: boolean;
  saveUninitialized: boolean;
  rolling: boolean;
  unsetDestroy: boolean;
  /** Whether the request came over HTTPS (directly or, as the `proxy` option allows, through a proxy). */
  isSecure(req: LifecycleRequest): boolean;
}

/**
 * One request's session, from load to stored: decides whether to save, touch and send the
 * cookie. One object per request with its decisions as methods (not closures), since this runs
 * on every request. Sessions are compared by their attributes' JSON (string equality is cheaper
 * than hashing it, and the load often knows it already).
 */
export class RequestLifecycle implements ResponseListener, SaveListener {
  private originalId = '';
  private originalJson = '';
  private savedId: string | undefined = undefined;
  private savedJson: string | undefined = undefined;
  private touched = false;
  /** Storing the session failed (the error handler answers). */
  private storeFailed = false;
  /** The session's JSON while the response ends (it cannot change then): computed once for every check. */
  private endJson: string | undefined = undefined;
  /** The session as loaded, when its attributes were all primitives (see `json`). */
  private loadedSession: Session | undefined = undefined;
  private loadedAttributes: unknown[] | undefined = undefined;
  private finished = false;

  constructor(
    private readonly settings: LifecycleSettings,
    private readonly req: LifecycleRequest,
    /** The response, when it can be hooked (socket.io passes a bare object). */
    private readonly res: ServerResponse | undefined,
    private readonly next: (err?: unknown) => void,
    /** The verified session id from the request's cookie. */
    private readonly cookieId: string | undefined,
  ) {
    req.sessionID = cookieId;
  }

  /** Called by `Session.save()`. */
  sessionSaved(session: Session): void {
    this.savedId = session.id;
    this.savedJson = this.json(session);
  }

  /** Sets up `req.session` from what the mode loaded (or a new session), then passes the request on. */
  loaded(loaded: LoadedSession | undefined): void {
    try {
      this.begin(loaded);
    } catch (err) {
      return this.next(err);
    }
    // Without a response to watch (socket.io), the request's hold on the session ends now.
    if (!this.res) this.settings.mode.finish?.(this.cookieId!, this.req);
    this.next();
  }

  /** Sets up `req.session`: the loaded session, or a new one when there is none. */
  begin(loaded: LoadedSession | undefined): void {
    const { req, settings } = this;
    let session: Session | undefined;
    if (loaded) {
      if (loaded.id !== this.cookieId) req.sessionID = loaded.id;
      session = settings.store.createSession(req, loaded.data as SessionData);
      // A session moved to a new id (takeover) counts as modified, so it is saved and its cookie re-sent.
      this.originalId = this.cookieId!;
      this.originalJson = loaded.json ?? attributesJson(session);
      this.loadedAttributes = primitiveAttributes(session);
      if (this.loadedAttributes) this.loadedSession = session;
      if (!settings.resave && loaded.id === this.cookieId) {
        this.savedId = loaded.id;
        this.savedJson = this.originalJson;
      }
    } else {
      settings.store.generate(req);
      session = req.session!;
      this.originalId = session.id;
      this.originalJson = this.json(session);
    }
    // Explicit saves (also of a session made by regenerate or reload) are recorded, so they are not repeated at the end.
    if (session instanceof Session) listenForSaves(session, this);
  }

  beforeHeaders(): void {
    const { req, settings, cookieId } = this;
    const session = req.session;
    // A session that could not be stored gets no cookie for its new id: it would name nothing.
    if (!session || (this.storeFailed && cookieId !== req.sessionID) || !this.shouldSetCookie(session)) return;
    if (session.cookie.secure && !settings.isSecure(req)) return;
    this.touchOnce(session);
    try {
      writeSessionCookie(this.res!, settings.name, settings.signedIds.sign(req.sessionID!), session.cookie.data);
    } catch (err) {
      setImmediate(this.next, err);
    }
  }

  beforeEnd(): Promise<void> | undefined {
    const { mode } = this.settings;
    let stored: Promise<void> | void;
    try {
      stored = this.store();
    } catch (err) {
      stored = Promise.reject(err);
    }
    // Then locks are released, still before the response completes.
    if (!mode.releaseLocks) return stored ?? undefined;
    return stored ? stored.finally(() => mode.releaseLocks!(this.req)) : mode.releaseLocks(this.req);
  }

  endFailed(err: unknown): void {
    this.storeFailed = true;
    this.next(err);
  }

  ended(): void {
    this.endJson = undefined;
  }

  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.req.sessionID) this.settings.mode.finish!(this.req.sessionID, this.req);
  }

  /** Stores the session as the response ends: what the response waits for. */
  private store(): Promise<void> | void {
    const { req, settings, cookieId } = this;
    const { mode } = settings;
    if (req.sessionID && settings.unsetDestroy && req.session == null) {
      const id = req.sessionID;
      return saveTrace.hasSubscribers ? traced(saveTrace, { req, operation: 'destroy' }, () => mode.destroy(id)) : mode.destroy(id);
    }
    const session = req.session;
    if (!session) return undefined;
    this.touchOnce(session);
    this.endJson = this.json(session);
    if (this.shouldSave(session)) {
      this.savedId = session.id;
      this.savedJson = this.endJson;
      const json = this.endJson;
      return saveTrace.hasSubscribers ? traced(saveTrace, { req, operation: 'save' }, () => mode.save(session.id, session, json)) : mode.save(session.id, session, json);
    }
    // As express-session: a failed touch does not fail the response; it is reported after it.
    if (mode.touches && typeof req.sessionID === 'string' && cookieId === req.sessionID) {
      const id = req.sessionID;
      const touching = saveTrace.hasSubscribers ? traced(saveTrace, { req, operation: 'touch' }, () => mode.touch(id, session)) : mode.touch(id, session);
      return touching?.catch((err: unknown) => void setImmediate(this.next, err));
    }
    return undefined;
  }

  /**
   * The session's attributes' JSON. A loaded session whose attributes are all primitives and
   * still identical has the JSON it was loaded with: no serialization, which for a large session
   * is most of a read request's cost.
   */
  private json(session: Session): string {
    if (this.endJson !== undefined && session === this.req.session) return this.endJson;
    if (session === this.loadedSession && sameAttributes(session, this.loadedAttributes!)) return this.originalJson;
    return attributesJson(session);
  }

  private isModified(session: Session): boolean {
    return this.originalId !== session.id || this.originalJson !== this.json(session);
  }

  private isSaved(session: Session): boolean {
    return this.savedId === session.id && this.savedJson === this.json(session);
  }

  private shouldSave(session: Session): boolean {
    const { req, settings } = this;
    if (typeof req.sessionID !== 'string') return false;
    return !settings.saveUninitialized && this.savedJson === undefined && this.cookieId !== req.sessionID
      ? this.isModified(session)
      : !this.isSaved(session);
  }

  private shouldSetCookie(session: Session): boolean {
    const { req, settings } = this;
    if (typeof req.sessionID !== 'string') return false;
    return this.cookieId !== req.sessionID
      ? settings.saveUninitialized || this.isModified(session)
      : settings.rolling || (session.cookie.expires != null && this.isModified(session));
  }

  private touchOnce(session: Session): void {
    if (!this.touched) {
      session.touch();
      this.touched = true;
    }
  }
}
