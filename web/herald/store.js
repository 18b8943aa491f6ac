/** The inbox as this tab knows it; unread = the server's count at `basePos` + unread items after it (`fresh`). */

/** @typedef {import('./format.js').Notification} Notification */

/** Cursors are decimal and may exceed 2^53. @param {string} a @param {string} b */
const after = (a, b) => BigInt(a) > BigInt(b);

export class InboxStore {
  /** @type {Map<string, Notification>} */
  #items = new Map();
  /** @type {Notification[] | null} newest first, rebuilt on demand */
  #sorted = null;
  #base = 0;
  /** @type {string | null} */
  #basePos = null;
  /** @type {Map<string, string>} id -> cursor it came with */
  #fresh = new Map();
  /** @type {string | null} */
  position = null;

  get loaded() {
    return this.position !== null;
  }

  get unreadCount() {
    return Math.max(0, this.#base + this.#fresh.size);
  }

  get items() {
    this.#sorted ??= [...this.#items.values()].sort((a, b) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : -1));
    return this.#sorted;
  }

  /** @param {string} id */
  get(id) {
    return this.#items.get(id);
  }

  clear() {
    this.#items.clear();
    this.#fresh.clear();
    this.#sorted = this.#basePos = this.position = null;
    this.#base = 0;
  }

  /**
   * `pos`: the stream cursor it came with; null from a REST page, whose count covers it.
   * @param {Notification} item @param {string | null} pos @returns {'new' | 'update' | 'read' | 'duplicate'}
   */
  merge(item, pos) {
    const old = this.#items.get(item.id);
    if (old) {
      // A bigger or newer group, or a replaced item, under the same id: updated in place.
      // Back from a snooze (or out of the archive by a replace): news again.
      if (item.groupCount > old.groupCount || item.timestamp > old.timestamp || (old.snoozedUntil || old.archived) > (item.snoozedUntil || item.archived || 0)) {
        // Groups grow only into unread items; a replaced one is as read as the server says.
        const read = item.replaceKey || old.snoozedUntil ? item.read : item.read || old.read;
        this.#items.set(item.id, { ...item, read });
        this.#sorted = null;
        if (old.read && !read && pos && (this.#basePos === null || after(pos, this.#basePos))) this.#fresh.set(item.id, pos);
        return 'update';
      }
      // A live broadcast's copy: new if the count is older.
      if (old.broadcast && !old.read && pos && (this.#basePos === null || after(pos, this.#basePos))) this.#fresh.set(item.id, pos);
      if (!item.read || old.read) return 'duplicate';
      this.#setRead(old);
      return 'read';
    }
    this.#items.set(item.id, { ...item });
    this.#sorted = null;
    // A live broadcast: new until the next count.
    if (item.broadcast && !item.read) this.#fresh.set(item.id, '0');
    // An unknown id with groupCount > 1 grew from an item the count already has.
    if (pos && !item.read && item.groupCount === 1 && (this.#basePos === null || after(pos, this.#basePos))) {
      this.#fresh.set(item.id, pos);
    }
    return 'new';
  }

  /** The server's count, true at cursor `pos`, or null: now. @param {number} count @param {string | null} pos */
  snapshot(count, pos) {
    this.#base = count;
    if (pos === null) {
      this.#fresh.clear();
      pos = this.position;
    } else {
      for (const [id, seen] of this.#fresh) if (!after(seen, pos)) this.#fresh.delete(id);
    }
    if (pos !== null && (this.#basePos === null || after(pos, this.#basePos))) this.#basePos = pos;
    // Nothing unread on the server: what still looks unread here was read elsewhere.
    if (!count) for (const item of this.#items.values()) if (!this.#fresh.has(item.id)) item.read = true;
  }

  /** @param {string[] | null} ids  null: all @returns {string[]} those that were unread here */
  markRead(ids) {
    const changed = [];
    for (const item of ids ? ids.map((id) => this.#items.get(id)) : this.#items.values()) {
      if (item && !item.read) changed.push(this.#setRead(item));
    }
    if (!ids) this.#base = 0;
    return changed;
  }

  /** Retracted or expired; the count comes with the event. @param {string[]} ids */
  remove(ids) {
    for (const id of ids) this.#items.delete(id) && this.#fresh.delete(id);
    this.#sorted = null;
  }

  /** A `triage` change: the new state of some items; the count comes with it. @param {string[]} ids @param {object} state */
  patch(ids, state) {
    for (const id of ids) Object.assign(this.#items.get(id) ?? {}, state) && this.#fresh.delete(id);
    this.#sorted = null;
  }

  /** Move the resume cursor forward, never back. @param {string} cursor */
  advance(cursor) {
    if (this.position === null || after(cursor, this.position)) this.position = cursor;
  }

  /** @param {Notification} item */
  #setRead(item) {
    item.read = true;
    if (!this.#fresh.delete(item.id)) this.#base = Math.max(0, this.#base - 1);
    return item.id;
  }
}
