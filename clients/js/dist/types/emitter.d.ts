/** A small typed event emitter. */
export type Listener<T> = (payload: T) => void;
export declare class Emitter<Events extends object> {
    private readonly listeners;
    /** Call `listener` on each `name` event; returns a function that removes it. */
    on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void;
    off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void;
    /** Resolve with the next `name` event that passes `filter`. */
    once<K extends keyof Events>(name: K, filter?: (p: Events[K]) => boolean): Promise<Events[K]>;
    protected emit<K extends keyof Events>(name: K, payload: Events[K]): void;
}
