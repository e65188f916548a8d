import { RecencyList } from './recency-list.js';

/** A set that forgets its oldest members beyond `capacity`; every operation O(1). */
export class BoundedSet {
  private readonly members = new RecencyList<true>();

  constructor(private readonly capacity: number) {}

  add(value: string): void {
    this.members.set(value, true);
    if (this.members.size > this.capacity) this.members.delete(this.members.oldest()!);
  }

  /** Removes `value`; true when it was there. */
  delete(value: string): boolean {
    return this.members.delete(value) !== undefined;
  }
}
