/** An event as the domain writes it: a type name and plain data. */
export type Ev<T extends string, D> = { type: T; data: D };
