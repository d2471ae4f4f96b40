import type { ListenHandlers } from './postgres-keys.js';

/** The little SQL both stores speak: `?` placeholders, numbers for times, text for JSON. */
export interface Db {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows of a query. */
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** Runs fn in one transaction (committed if it resolves, rolled back if it throws). */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL: LISTENs on `channel` on a connection of its own, connecting again after it is
   * lost, until close().
   */
  listen?(channel: string, handlers: ListenHandlers): void;
  close(): Promise<void>;
}
