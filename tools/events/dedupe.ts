// Owns the one dedupe rule a consumer of the change stream needs
// (docs/events.md): the stream is at least once, so a message may come
// again after a publisher or broker restart, never out of order within a
// client. A client's transactions take their ids in the order they commit
// (each locks its client's row before taking one), so per client the
// highest id already handled says everything: a message at or below it is a
// duplicate. One number per client, kept with whatever the consumer does
// with the message (in the same database transaction, say).

export class ClientDedupe {
  private readonly highest = new Map<number, number>();

  /** Whether the event is new; records it when it is. */
  accept(event: { id: number; cliente_id: number }): boolean {
    const last = this.highest.get(event.cliente_id) ?? 0;
    if (event.id <= last) return false;
    this.highest.set(event.cliente_id, event.id);
    return true;
  }
}
