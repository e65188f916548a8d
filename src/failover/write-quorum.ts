/**
 * Whether a new version on `written` may be acknowledged, judged from `home`: the key's first
 * nodes on the ring of every configured regular node, the same in every process whatever it
 * thinks is up. Any two sets this accepts share a node, where compare-and-swap lets only one of
 * two writes of the same loaded version through: so two processes that disagree about which
 * nodes are up can never both have a write acknowledged on copies the other never reads.
 * With three or more nodes: two of the first three. With fewer: the first node.
 */
export function isWriteQuorum(home: readonly string[], written: readonly string[]): boolean {
  if (home.length < 3) return home.length > 0 && written.includes(home[0]);
  return isHomeMajority(home, written);
}

/**
 * Whether `nodes` hold two of the key's three `home` nodes; with fewer than three, true (two
 * nodes have no majority that survives losing one). Unlocked writes are acknowledged, and reads
 * trusted, only on such a majority: any two majorities share a node, so a read sees every
 * acknowledged version even when the writer's process and the reader's saw different nodes down.
 */
export function isHomeMajority(home: readonly string[], nodes: readonly string[]): boolean {
  if (home.length < 3) return true;
  let held = 0;
  for (let i = 0; i < 3; i++) if (nodes.includes(home[i])) held++;
  return held >= 2;
}
