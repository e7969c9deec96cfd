/**
 * Group commit (runtime/store/group-commit.ts): a Reply waits for the commit of the writes
 * queued before it; one commit per turn however many Requests it holds; a failed commit sends
 * none of its Replies.
 */
import { describe, expect, it } from 'vitest';
import type { StoreWrite } from '../../runtime/store/binding-store.js';
import { GroupCommit } from '../../runtime/store/group-commit.js';
import { MemoryBindingStore } from '../../runtime/store/memory-store.js';

const put = (n: number): StoreWrite => ({ op: 'put-visitor', visitor: { key: `v${n}`, expiresAt: 1, entry: n } });

function manual(store = new MemoryBindingStore(), onError: (error: unknown, dropped: number) => void = () => {}) {
  const tasks: Array<() => void> = [];
  const group = new GroupCommit(store, onError, (task) => tasks.push(task));
  return { group, store, turn: () => tasks.splice(0).forEach((task) => task()), tasks };
}

describe('group commit', () => {
  it('holds a Reply until the writes before it are committed, and commits a turn\'s writes once', () => {
    const { group, store, turn } = manual();
    const sent: string[] = [];
    for (let i = 0; i < 64; i++) {
      group.write(put(i));
      group.whenDurable(() => sent.push(`reply ${i} after ${store.load().visitors.length} rows`));
    }
    expect(sent).toEqual([]);
    expect(store.commits).toBe(0);
    turn();
    expect(store.commits).toBe(1);
    expect(sent).toHaveLength(64);
    expect(sent.every((line) => line.endsWith('after 64 rows'))).toBe(true);
    expect(group.counters).toEqual({ commits: 1, writes: 64, failures: 0, repliesDropped: 0 });
  });

  it('sends a Reply at once when nothing waits to be committed (a denial)', () => {
    const { group, tasks } = manual();
    const sent: number[] = [];
    group.whenDurable(() => sent.push(1));
    expect(sent).toEqual([1]);
    expect(tasks).toHaveLength(0);
  });

  it('keeps the order of Replies: one without writes queued behind held ones waits too', () => {
    const { group, turn } = manual();
    const sent: string[] = [];
    group.write(put(1));
    group.whenDurable(() => sent.push('accepted'));
    group.whenDurable(() => sent.push('denied'));
    turn();
    expect(sent).toEqual(['accepted', 'denied']);
  });

  it('a failed commit sends none of its Replies, reports them, and the next turn works again', () => {
    const store = new MemoryBindingStore();
    const errors: Array<[string, number]> = [];
    const { group, turn } = manual(store, (error, dropped) => errors.push([(error as Error).message, dropped]));
    const sent: number[] = [];
    store.close();
    group.write(put(1));
    group.whenDurable(() => sent.push(1));
    group.whenDurable(() => sent.push(2));
    turn();
    expect(sent).toEqual([]);
    expect(errors).toEqual([['commit on a closed store', 2]]);
    expect(group.counters.repliesDropped).toBe(2);
    store.reopen();
    group.write(put(2));
    group.whenDurable(() => sent.push(3));
    turn();
    expect(sent).toEqual([3]);
  });

  it('flush() commits and sends at once (the daemon stopping)', () => {
    const { group, store } = manual();
    const sent: number[] = [];
    group.write(put(1));
    group.whenDurable(() => sent.push(1));
    group.flush();
    expect(sent).toEqual([1]);
    expect(store.load().visitors).toHaveLength(1);
  });

  it('with a store that commits in the background: the next group forms meanwhile and commits after, Replies in order', async () => {
    const commits: Array<{ writes: number; resolve(): void }> = [];
    const store = {
      load: () => ({ bindings: [], replay: [], visitors: [] }),
      commit: (writes: readonly StoreWrite[]) => new Promise<void>((resolve) => commits.push({ writes: writes.length, resolve })),
      close: () => {},
    };
    const tasks: Array<() => void> = [];
    const group = new GroupCommit(store, () => {}, (task) => tasks.push(task));
    const turn = () => tasks.splice(0).forEach((task) => task());
    const sent: string[] = [];
    group.write(put(1));
    group.whenDurable(() => sent.push('a'));
    turn();
    expect(commits.map((c) => c.writes)).toEqual([1]);
    // While the first group is being made durable, three more Requests arrive (two turns).
    group.write(put(2));
    group.whenDurable(() => sent.push('b'));
    turn();
    group.whenDurable(() => sent.push('c (a denial)'));
    group.write(put(3));
    group.whenDurable(() => sent.push('d'));
    turn();
    expect(commits).toHaveLength(1);
    expect(sent).toEqual([]);
    commits[0]!.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(sent).toEqual(['a']);
    turn();
    expect(commits.map((c) => c.writes)).toEqual([1, 2]);
    commits[1]!.resolve();
    await group.drain();
    expect(sent).toEqual(['a', 'b', 'c (a denial)', 'd']);
    expect(group.counters).toMatchObject({ commits: 2, writes: 3 });
  });
});
