import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinHeap, type HeapEntry } from '../../io/min-heap.js';

interface Entry extends HeapEntry {
  readonly name: string;
}

function entry(due: number, seq: number, name = `${due}/${seq}`): Entry {
  return { due, seq, index: -1, name };
}

function drain(heap: MinHeap<Entry>): string[] {
  const out: string[] = [];
  for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e.name);
  return out;
}

describe('MinHeap', () => {
  it('is empty at first', () => {
    const heap = new MinHeap<Entry>();
    expect(heap.size).toBe(0);
    expect(heap.peek()).toBeUndefined();
    expect(heap.pop()).toBeUndefined();
  });

  it('pops the earliest deadline first, whatever the push order', () => {
    const heap = new MinHeap<Entry>();
    for (const [due, seq] of [
      [50, 0],
      [10, 1],
      [40, 2],
      [20, 3],
      [30, 4],
      [0, 5],
    ] as const) {
      heap.push(entry(due, seq, `t${due}`));
    }
    expect(heap.size).toBe(6);
    expect(heap.peek()?.name).toBe('t0');
    expect(drain(heap)).toEqual(['t0', 't10', 't20', 't30', 't40', 't50']);
    expect(heap.size).toBe(0);
  });

  it('breaks ties on the deadline by seq (scheduling order), not by push order', () => {
    const heap = new MinHeap<Entry>();
    // Pushed in reverse seq order on purpose: only seq may decide.
    heap.push(entry(100, 3, 'c'));
    heap.push(entry(100, 1, 'a'));
    heap.push(entry(5, 9, 'early'));
    heap.push(entry(100, 2, 'b'));
    heap.push(entry(100, 0, 'first'));
    expect(drain(heap)).toEqual(['early', 'first', 'a', 'b', 'c']);
  });

  it('keeps each entry.index equal to its position and sets -1 once the entry leaves', () => {
    const heap = new MinHeap<Entry>();
    const entries = [7, 3, 9, 1, 5, 8, 2].map((due, seq) => entry(due, seq));
    for (const e of entries) heap.push(e);
    const indices = entries.map((e) => e.index).sort((a, b) => a - b);
    expect(indices).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const top = heap.pop()!;
    expect(top.due).toBe(1);
    expect(top.index).toBe(-1);
    expect(heap.peek()!.index).toBe(0);
  });

  it('removes an entry from the middle and keeps the order of the rest', () => {
    const heap = new MinHeap<Entry>();
    const entries = Array.from({ length: 15 }, (_, i) => entry(i * 10, i, `t${i * 10}`));
    // Push in a scrambled order so the removed entry is an inner node with children.
    for (const i of [14, 3, 9, 0, 12, 6, 1, 11, 7, 2, 13, 5, 10, 4, 8]) heap.push(entries[i]!);
    const middle = entries[7]!;
    expect(middle.index).toBeGreaterThan(0);
    expect(middle.index).toBeLessThan(heap.size - 1);
    expect(heap.remove(middle)).toBe(true);
    expect(middle.index).toBe(-1);
    expect(heap.size).toBe(14);
    expect(drain(heap)).toEqual(entries.filter((e) => e !== middle).map((e) => e.name));
  });

  it('removes the root and the last entry', () => {
    const heap = new MinHeap<Entry>();
    const entries = [1, 2, 3, 4, 5].map((due, seq) => entry(due, seq, `t${due}`));
    for (const e of entries) heap.push(e);
    expect(heap.remove(entries[0]!)).toBe(true);
    const last = entries.find((e) => e.index === heap.size - 1)!;
    expect(heap.remove(last)).toBe(true);
    expect(drain(heap)).toEqual(entries.filter((e) => e !== entries[0] && e !== last).map((e) => e.name));
  });

  it('moves the replacement up when it is smaller than the removed entry’s parent', () => {
    // Heap array [0, 100, 1, 101, 102, 2, 3]: removing 101 (index 3) brings 3 (the last) to
    // index 3 under parent 100, where it must sift up, not down.
    const heap = new MinHeap<Entry>();
    const entries = [0, 100, 1, 101, 102, 2, 3].map((due, seq) => entry(due, seq, `t${due}`));
    for (const e of entries) heap.push(e);
    expect(entries.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(heap.remove(entries[3]!)).toBe(true);
    expect(entries[6]!.index).toBe(1);
    expect(drain(heap)).toEqual(['t0', 't1', 't2', 't3', 't100', 't102']);
  });

  it('refuses to remove an entry twice, or an entry of another heap', () => {
    const a = new MinHeap<Entry>();
    const b = new MinHeap<Entry>();
    const x = entry(1, 0, 'x');
    const y = entry(2, 1, 'y');
    a.push(x);
    b.push(y); // same index 0 as x, but not in `a`
    expect(a.remove(y)).toBe(false);
    expect(a.size).toBe(1);
    expect(a.remove(x)).toBe(true);
    expect(a.remove(x)).toBe(false);
    expect(a.size).toBe(0);
    expect(b.pop()).toBe(y);
    expect(b.remove(y)).toBe(false);
  });

  it('behaves like a sorted array under random push/pop/remove (model test)', () => {
    type Op = { kind: 'push'; due: number } | { kind: 'pop' } | { kind: 'remove'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      // Few distinct deadlines, so ties (decided by seq) are common.
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('push' as const), due: fc.integer({ min: 0, max: 20 }) }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'pop' as const }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
    );
    const byDeadline = (a: Entry, b: Entry) => a.due - b.due || a.seq - b.seq;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const heap = new MinHeap<Entry>();
        let model: Entry[] = [];
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const e = entry(o.due, seq++);
            heap.push(e);
            model.push(e);
            model.sort(byDeadline);
          } else if (o.kind === 'pop') {
            expect(heap.pop()).toBe(model.shift());
          } else if (model.length > 0) {
            const victim = model[o.pick % model.length]!;
            expect(heap.remove(victim)).toBe(true);
            expect(victim.index).toBe(-1);
            model = model.filter((e) => e !== victim);
          }
          expect(heap.size).toBe(model.length);
          expect(heap.peek()).toBe(model[0]);
          // Every live entry knows a distinct valid position.
          const positions = new Set(model.map((e) => e.index));
          expect(positions.size).toBe(model.length);
          for (const p of positions) expect(p >= 0 && p < model.length).toBe(true);
        }
        const rest: Entry[] = [];
        for (let e = heap.pop(); e !== undefined; e = heap.pop()) rest.push(e);
        expect(rest).toEqual(model);
      }),
      { numRuns: 500 },
    );
  });
});
