/**
 * A binary min-heap ordered by (due, seq): the earliest deadline first, and among equal
 * deadlines the one scheduled first. Used by the simulated clock and the timer queue.
 */
export interface HeapEntry {
  due: number;
  seq: number;
  /** Position in the heap array, or -1 once removed. Kept so entries can be removed in O(log n). */
  index: number;
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

export class MinHeap<T extends HeapEntry> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(entry: T): void {
    entry.index = this.items.length;
    this.items.push(entry);
    this.up(entry.index);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  remove(entry: T): boolean {
    const i = entry.index;
    if (i < 0 || this.items[i] !== entry) return false;
    this.removeAt(i);
    return true;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const removed = items[i]!;
    const last = items.pop()!;
    removed.index = -1;
    if (i < items.length) {
      items[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  private up(i: number): void {
    const items = this.items;
    const entry = items[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex]!;
      if (!before(entry, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    items[i] = entry;
    entry.index = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const entry = items[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(items[right]!, items[left]!) ? right : left;
      if (!before(items[child]!, entry)) break;
      items[i] = items[child]!;
      items[i]!.index = i;
      i = child;
    }
    items[i] = entry;
    entry.index = i;
  }
}
