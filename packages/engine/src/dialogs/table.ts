/** The engine's dialog table: lookup by drachtio dialog id and by (Call-ID, local tag, remote tag). */
import { Dialog, DialogState, dialogKey } from './dialog.js';

export class DialogTable {
  private readonly byId = new Map<string, Dialog>();
  private readonly byKey = new Map<string, Dialog>();

  get size(): number {
    return this.byId.size;
  }

  /** drachtio's convention: `<Call-ID>;from-tag=<tag of the From of the creating request>`; made unique if taken. */
  makeId(callId: string, fromTag: string): string {
    const base = `${callId};from-tag=${fromTag}`;
    if (!this.byId.has(base)) return base;
    let i = 2;
    while (this.byId.has(`${base};n=${i}`)) i++;
    return `${base};n=${i}`;
  }

  add(d: Dialog): void {
    this.byId.set(d.id, d);
    this.byKey.set(dialogKey(d.callId, d.localTag, d.remoteTag), d);
  }

  get(id: string): Dialog | undefined {
    return this.byId.get(id);
  }

  find(callId: string, localTag: string, remoteTag: string): Dialog | undefined {
    return this.byKey.get(dialogKey(callId, localTag, remoteTag));
  }

  remove(d: Dialog): void {
    if (this.byId.get(d.id) === d) this.byId.delete(d.id);
    const k = dialogKey(d.callId, d.localTag, d.remoteTag);
    if (this.byKey.get(k) === d) this.byKey.delete(k);
    if (d.state !== DialogState.Terminated) d.transition(DialogState.Terminated);
  }

  values(): IterableIterator<Dialog> {
    return this.byId.values();
  }

  clear(): void {
    this.byId.clear();
    this.byKey.clear();
  }
}
