/** A set that forgets its oldest members beyond `capacity`. */
export class BoundedSet {
  private readonly members = new Set<string>();

  constructor(private readonly capacity: number) {}

  add(value: string): void {
    this.members.delete(value);
    this.members.add(value);
    if (this.members.size > this.capacity) this.members.delete(this.members.values().next().value as string);
  }

  /** Removes `value`; true when it was there. */
  delete(value: string): boolean {
    return this.members.delete(value);
  }
}
