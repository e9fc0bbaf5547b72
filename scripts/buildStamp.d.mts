export declare const STAMP: string;
export declare function newest(path: string): number;
export declare function staleSince(paths: readonly string[]): boolean;
