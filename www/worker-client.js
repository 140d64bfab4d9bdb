// The page's side of the worker protocol (worker.js): one worker, started by the first request (with it the
// 20+ MB wasm engine), each request a promise of its reply, progress to a callback.

export class WorkerClient {
  /**
   * `onReply(reply)` sees every reply (the page counts forward passes from it), `onPool(message)` the pool's
   * state, and `onStopped(message)` a worker that could not start or died (every request then settles with an
   * error and the next request starts a new worker).
   */
  constructor({ onReply, onPool, onStopped }) {
    this.worker = null;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = { onReply, onPool, onStopped };
  }

  start() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'pool') return this.handlers.onPool(data);
      const request = this.pending.get(data.id);
      if (!request) return;
      if (data.type === 'progress') return request.onProgress?.(data);
      this.pending.delete(data.id);
      this.handlers.onReply(data);
      request.settle(data);
    };
    this.worker.onerror = (e) => {
      // A module worker that cannot load its imports reports an ErrorEvent without a message.
      for (const request of this.pending.values()) request.settle({ ok: false, error: 'the engine stopped' });
      this.pending.clear();
      this.worker = null;
      this.handlers.onStopped(e.message ?? '');
    };
  }

  /** Sends a request; `reply` resolves to the worker's `{ok, result | error, superseded, modelId, imageId}`. */
  request(type, payload = {}, onProgress = null, transfer = []) {
    if (!this.worker) this.start();
    const id = this.nextId++;
    return {
      id,
      reply: new Promise((settle) => {
        this.pending.set(id, { settle, onProgress });
        this.worker.postMessage({ id, type, ...payload }, transfer);
      }),
    };
  }

  /** Asks the running explanation to stop at its next batch (answered at once by the worker). */
  cancel() {
    this.worker?.postMessage({ type: 'cancel' });
  }
}
